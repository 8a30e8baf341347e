{{ config(
    materialized='incremental',
    incremental_strategy='append',
    engine=table_engine('AggregatingMergeTree'),
    order_by='user_id',
    partition_by=none
) }}

-- Latest known attributes per user. Every run appends its window's rows; merges keep
-- min(first_seen) and max((time, attributes…)) — the attributes of the latest event — as plain
-- columns (SimpleAggregateFunction), cheap to read, so re-running a day changes nothing.
-- Read it through dim_users_current.
-- Feed users come from int_feed_user_daily (one row per user and day, already carrying the
-- attributes of their last action), so the large feed table is not scanned a second time;
-- message senders come from their (far fewer) events.
with actions_of_window as (
    select user_id, first_action_at as first_time, last_action_at as time,
           gender, age, country, city, os, source, exp_group
    from {{ ref('int_feed_user_daily') }}
    where {{ in_window('event_date') }}
    union all
    select user_id, time as first_time, time, gender, age, country, city, os, source, exp_group
    from {{ ref('stg_message_actions') }}
    where {{ time_in_window('time') }}
)

select
    user_id,
    cast(min(first_time) as SimpleAggregateFunction(min, DateTime)) as first_seen,
    cast(
        max((time, gender, age, toString(country), toString(city), toString(os), toString(source), exp_group))
        as SimpleAggregateFunction(max, Tuple(DateTime, Int8, Int16, String, String, String, String, Int8))
    ) as latest
from actions_of_window
group by user_id
