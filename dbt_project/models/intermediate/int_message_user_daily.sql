{{ config(
    order_by='(event_date, user_id)'
) }}

-- Per user and day: messages sent and received and to/from how many people, and the messenger's
-- event metrics of the sender (var metrics, compiled by macros/metrics.sql).
-- Both sides are stacked (UNION ALL) and grouped instead of joined: a FULL JOIN under
-- ClickHouse's default join_use_nulls=0 would turn a receive-only user's id into 0.
with messages_of_window as (
    -- every column: a metric's filter may read any of them (unread ones are not scanned)
    select *, user_id as sender_id
    from {{ ref('stg_message_actions') }}
    where {{ time_in_window('time') }}
),

sender_metrics as (
    select event_date, user_id{{ ', ' ~ metric_event_columns('messages') if metric_event_metrics('messages') }}
    from messages_of_window
    group by event_date, user_id
),

message_sides as (
    select event_date, sender_id as user_id, receiver_id as peer_id, 1 as is_sent from messages_of_window
    union all
    select event_date, receiver_id as user_id, sender_id as peer_id, 0 as is_sent from messages_of_window
),

peers as (
    select
        event_date,
        user_id,
        toUInt64(countIf(is_sent = 1)) as messages_sent,
        toUInt64(uniqExactIf(peer_id, is_sent = 1)) as users_sent,
        toUInt64(countIf(is_sent = 0)) as messages_received,
        toUInt64(uniqExactIf(peer_id, is_sent = 0)) as users_received
    from message_sides
    group by event_date, user_id
)

-- receive-only users have no sender_metrics row: their metric columns are 0 (join_use_nulls = 0)
select
    p.event_date as event_date,
    p.user_id as user_id,
    p.messages_sent as messages_sent,
    p.users_sent as users_sent,
    p.messages_received as messages_received,
    p.users_received as users_received
    {%- for name in metric_event_metrics('messages') %},
    s.{{ name }} as {{ name }}
    {%- endfor %}
from peers as p
left join sender_metrics as s on s.event_date = p.event_date and s.user_id = p.user_id
settings join_use_nulls = 0
