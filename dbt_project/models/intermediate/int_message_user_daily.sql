{{ config(
    order_by='(event_date, user_id)'
) }}

-- Per user and day: messages sent and received and to/from how many people.
-- Both sides are stacked (UNION ALL) and grouped instead of joined: a FULL JOIN under
-- ClickHouse's default join_use_nulls=0 would turn a receive-only user's id into 0.
with messages_of_window as (
    select event_date, user_id as sender_id, receiver_id
    from {{ ref('stg_message_actions') }}
    where {{ time_in_window('time') }}
),

message_sides as (
    select event_date, sender_id as user_id, receiver_id as peer_id, 1 as is_sent from messages_of_window
    union all
    select event_date, receiver_id as user_id, sender_id as peer_id, 0 as is_sent from messages_of_window
)

select
    event_date,
    user_id,
    toUInt64(countIf(is_sent = 1)) as messages_sent,
    toUInt64(uniqExactIf(peer_id, is_sent = 1)) as users_sent,
    toUInt64(countIf(is_sent = 0)) as messages_received,
    toUInt64(uniqExactIf(peer_id, is_sent = 0)) as users_received
from message_sides
group by event_date, user_id
