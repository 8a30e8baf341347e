{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='event_day',
    order_by='(event_day, user_id)',
    engine='MergeTree()'
) }}

with events_of_window as (
    select event_day, user_id, amount
    from {{ ref('mini_events') }}
    {% if is_incremental() %}
    where event_day = toDate('{{ var("day") }}')
    {% endif %}
)

select
    toDate(event_day) as event_day,
    toUInt32(user_id) as user_id,
    toUInt64(sum(amount)) as amount,
    toUInt64(count()) as events
from events_of_window
group by event_day, user_id
