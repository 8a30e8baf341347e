{{ config(
    order_by='(event_date, user_id)'
) }}

-- Per user and day: views and likes in the feed, with the user's attributes at their last feed
-- action of the day (as the original extract's GROUP BY user_id, gender, age, os) and the times of
-- the first and last action. dim_users is built from these per-user rows, so the day's feed events
-- (the biggest table) are scanned once per run.
with feed_actions_of_window as (
    select event_date, user_id, action, time, gender, age, country, city, os, source, exp_group
    from {{ ref('stg_feed_actions') }}
    where {{ time_in_window('time') }}
),

feed_users_of_window as (
    select
        event_date,
        user_id,
        toUInt64(countIf(action = 'view')) as views,
        toUInt64(countIf(action = 'like')) as likes,
        min(time) as first_action_at,
        max(time) as last_action_at,
        -- argMax per column: a tuple argMax copies every string of every newer row (≈ 2× slower);
        -- the attributes are the user's, so the columns of the latest action agree
        argMax(gender, time) as gender,
        argMax(age, time) as age,
        toLowCardinality(argMax(country, time)) as country,
        toLowCardinality(argMax(city, time)) as city,
        toLowCardinality(argMax(os, time)) as os,
        toLowCardinality(argMax(source, time)) as source,
        argMax(exp_group, time) as exp_group
    from feed_actions_of_window
    group by event_date, user_id
)

select
    event_date,
    user_id,
    views,
    likes,
    first_action_at,
    last_action_at,
    gender,
    age,
    country,
    city,
    os,
    source,
    exp_group
from feed_users_of_window
