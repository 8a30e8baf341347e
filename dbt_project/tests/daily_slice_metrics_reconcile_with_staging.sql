{{ config(meta={'dagster': {'ref': {'name': 'daily_slice_metrics'}}}) }}
-- Per day in the window and per dimension, the slices add up to the day's totals in staging.
with feed_totals as (
    select event_date, countIf(action = 'view') as views, countIf(action = 'like') as likes
    from {{ ref('stg_feed_actions') }}
    where {{ time_in_window('time') }}
    group by event_date
),

message_totals as (
    select event_date, count() as messages
    from {{ ref('stg_message_actions') }}
    where {{ time_in_window('time') }}
    group by event_date
),

slice_totals as (
    select event_date, dimension, sum(views) as views, sum(likes) as likes,
           sum(messages_sent) as messages_sent, sum(messages_received) as messages_received
    from {{ ref('daily_slice_metrics') }}
    where {{ in_window('event_date') }}
    group by event_date, dimension
),

days as (
    select event_date from feed_totals
    union distinct
    select event_date from message_totals
),

expected as (
    select d.event_date as event_date, dimension, ifNull(f.views, 0) as views, ifNull(f.likes, 0) as likes,
           ifNull(m.messages, 0) as messages
    from days as d
    cross join (select arrayJoin(['os', 'gender', 'age']) as dimension) as dimensions
    left join feed_totals as f on f.event_date = d.event_date
    left join message_totals as m on m.event_date = d.event_date
    settings join_use_nulls = 1
)

select e.event_date, e.dimension, e.views, s.views, e.likes, s.likes, e.messages, s.messages_sent,
       s.messages_received
from expected as e
left join slice_totals as s on s.event_date = e.event_date and s.dimension = e.dimension
where s.views is null or e.views != s.views or e.likes != s.likes
   or e.messages != s.messages_sent or e.messages != s.messages_received
settings join_use_nulls = 1
