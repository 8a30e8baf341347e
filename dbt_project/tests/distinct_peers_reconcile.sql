{{ config(meta={'dagster': {'ref': {'name': 'int_message_user_daily'}}}) }}
-- Per day: the users_sent of all users add up to the distinct (sender, receiver) pairs, and so
-- do the users_received.
with pairs as (
    select event_date, uniqExact(user_id, receiver_id) as pairs
    from {{ ref('stg_message_actions') }}
    where {{ time_in_window('time') }}
    group by event_date
),

per_user as (
    select event_date, sum(users_sent) as users_sent, sum(users_received) as users_received
    from {{ ref('int_message_user_daily') }}
    where {{ in_window('event_date') }}
    group by event_date
)

select p.event_date, p.pairs, u.users_sent, u.users_received
from pairs as p
left join per_user as u on u.event_date = p.event_date
where u.users_sent != p.pairs or u.users_received != p.pairs
