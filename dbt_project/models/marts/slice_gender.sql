{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='event_date',
    order_by='(event_date, dimension_value)',
    pre_hook="{{ drop_window_partitions() }}"
) }}

-- Metrics of the day by gender: each row sums its users' values.
with users_of_window as (
    select event_date, gender, views, likes, messages_received, messages_sent, users_received, users_sent
    from {{ ref('user_daily') }}
    where {{ in_window('event_date') }}
)

select
    event_date,
    'gender' as dimension,
    {{ gender_label('gender') }} as dimension_value,
    toUInt64(sum(views)) as views,
    toUInt64(sum(likes)) as likes,
    toUInt64(sum(messages_received)) as messages_received,
    toUInt64(sum(messages_sent)) as messages_sent,
    toUInt64(sum(users_received)) as users_received,
    toUInt64(sum(users_sent)) as users_sent
from users_of_window
group by event_date, dimension_value
