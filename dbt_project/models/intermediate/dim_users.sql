{{ config(
    materialized='incremental',
    incremental_strategy='append',
    engine='AggregatingMergeTree()',
    order_by='user_id'
) }}

-- Latest known attributes per user, kept as aggregate states: every run appends the states of
-- its window and merges keep min(first_seen), max(last_seen) and the attributes of the latest
-- event, so re-running a day changes nothing. Read it through dim_users_current.
with actions_of_window as (
    select user_id, time, gender, age, country, city, os, source, exp_group
    from {{ ref('stg_feed_actions') }}
    where {{ time_in_window('time') }}
    union all
    select user_id, time, gender, age, country, city, os, source, exp_group
    from {{ ref('stg_message_actions') }}
    where {{ time_in_window('time') }}
)

select
    user_id,
    cast(min(time) as SimpleAggregateFunction(min, DateTime)) as first_seen,
    cast(max(time) as SimpleAggregateFunction(max, DateTime)) as last_seen,
    argMaxState(gender, time) as gender,
    argMaxState(age, time) as age,
    argMaxState(toString(country), time) as country,
    argMaxState(toString(city), time) as city,
    argMaxState(toString(os), time) as os,
    argMaxState(toString(source), time) as source,
    argMaxState(exp_group, time) as exp_group
from actions_of_window
group by user_id
