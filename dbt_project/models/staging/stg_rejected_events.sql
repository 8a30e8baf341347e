{{ config(
    materialized='incremental',
    order_by='(event_date, source_table, reason)'
) }}

-- Raw events left out by staging, counted per day, table and reason: never dropped silently.
with feed_rejections as (
    select toDate(time) as event_date, 'feed_actions' as source_table, {{ feed_action_rejection() }} as reason
    from {{ source('app', 'feed_actions') }}
    where {{ time_in_window('time') }}
),

message_rejections as (
    select toDate(time) as event_date, 'message_actions' as source_table, {{ message_action_rejection() }} as reason
    from {{ source('app', 'message_actions') }}
    where {{ time_in_window('time') }}
),

rejections as (
    select event_date, source_table, reason from feed_rejections
    where reason != ''
    union all
    select event_date, source_table, reason from message_rejections
    where reason != ''
)

select
    event_date,
    toLowCardinality(source_table) as source_table,
    toLowCardinality(reason) as reason,
    toUInt64(count()) as rejected_rows
from rejections
group by event_date, source_table, reason
