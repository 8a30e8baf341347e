{{ config(
    order_by='(event_date, user_id)'
) }}

-- Per user and day: the feed's event metrics (views, likes, ...: var metrics, compiled by
-- macros/metrics.sql), with the user's attributes at their last feed action of the day (as the
-- original extract's GROUP BY user_id, gender, age, os) and the times of the first and last action.
-- int_user_day_attributes is built from these per-user rows, so the day's feed events (the biggest
-- table) are scanned once per run.
with feed_actions_of_window as (
    -- every column: a metric's filter may read any of them (unread ones are not scanned)
    select *
    from {{ ref('stg_feed_actions') }}
    where {{ time_in_window('time') }}
),

-- Two stages, equal to one GROUP BY user with a latest value per attribute: first per user and
-- attribute combination (a user's attributes rarely change within a day, so this is about one row
-- per user), with each combination's last time; then per user, the latest value of each attribute
-- over those rows. The latest time's combinations are exactly those whose last time is the user's
-- last time, so each attribute's value (and its tie-break) is the one over the raw events. A
-- latest value of a String over every event (argMax updating its String ~50 times per user) cost
-- more than hashing the attributes into the first stage's key.
feed_user_attributes as (
    select
        event_date,
        user_id,
        gender,
        age,
        country,
        city,
        os,
        source,
        exp_group,
        {{ metric_event_columns('feed', 'partial') }},
        min(time) as first_at,
        max(time) as last_at
    from feed_actions_of_window
    group by event_date, user_id, gender, age, country, city, os, source, exp_group
),

feed_users_of_window as (
    select
        event_date,
        user_id,
        {{ metric_event_combined_columns('feed') }},
        min(first_at) as first_action_at,
        max(last_at) as last_action_at,
        -- One latest value per column (a tuple of all attributes copies every string of every newer
        -- row). Among actions in the same second each attribute takes its greatest value (the tie-break
        -- of macros/attribute_history.sql), whatever order rows are read in: macros/latest_value.sql.
        {{ latest_value('gender', 'last_at', 'int') }} as gender,
        {{ latest_value('age', 'last_at', 'int') }} as age,
        toLowCardinality({{ latest_value('country', 'last_at') }}) as country,
        toLowCardinality({{ latest_value('city', 'last_at') }}) as city,
        toLowCardinality({{ latest_value('os', 'last_at') }}) as os,
        toLowCardinality({{ latest_value('source', 'last_at') }}) as source,
        {{ latest_value('exp_group', 'last_at', 'int') }} as exp_group
    from feed_user_attributes
    group by event_date, user_id
)

select
    event_date,
    user_id,
    {{ metric_event_metrics('feed') | join(', ') }},
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
