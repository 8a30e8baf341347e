{{ config(
    order_by='(event_date, user_id)'
) }}

-- Per user and day: views and likes in the feed (one partition per day).
with feed_actions_of_window as (
    select event_date, user_id, action
    from {{ ref('stg_feed_actions') }}
    where {{ time_in_window('time') }}
)

select
    event_date,
    user_id,
    toUInt64(countIf(action = 'view')) as views,
    toUInt64(countIf(action = 'like')) as likes
from feed_actions_of_window
group by event_date, user_id
