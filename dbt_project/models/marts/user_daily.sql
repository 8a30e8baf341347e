{{ config(
    order_by='(event_date, user_id)'
) }}

-- Per user and day: feed and messenger metrics with the user's latest known attributes.
-- Every user active in either service counts: feed-only, messenger-only and receive-only.
with feed_users as (
    select event_date, user_id, views, likes
    from {{ ref('int_feed_user_daily') }}
    where {{ in_window('event_date') }}
),

message_users as (
    select event_date, user_id, messages_sent, users_sent, messages_received, users_received
    from {{ ref('int_message_user_daily') }}
    where {{ in_window('event_date') }}
),

-- Full outer semantics without a join: stack both sides and group.
activity as (
    select event_date, user_id, views, likes,
           toUInt64(0) as messages_sent, toUInt64(0) as users_sent,
           toUInt64(0) as messages_received, toUInt64(0) as users_received
    from feed_users
    union all
    select event_date, user_id, toUInt64(0), toUInt64(0),
           messages_sent, users_sent, messages_received, users_received
    from message_users
),

users_of_window as (
    select
        event_date,
        user_id,
        sum(views) as views,
        sum(likes) as likes,
        sum(messages_sent) as messages_sent,
        sum(users_sent) as users_sent,
        sum(messages_received) as messages_received,
        sum(users_received) as users_received
    from activity
    group by event_date, user_id
),

attributes as (
    select user_id, first_seen, gender, age, country, city, os, source, exp_group
    from {{ ref('dim_users_current') }}
    where user_id in (select user_id from users_of_window)
)

select
    u.event_date as event_date,
    u.user_id as user_id,
    u.views as views,
    u.likes as likes,
    u.messages_sent as messages_sent,
    u.users_sent as users_sent,
    u.messages_received as messages_received,
    u.users_received as users_received,
    u.views + u.likes > 0 as is_feed_user,
    u.messages_sent > 0 as is_messenger_user,
    a.first_seen as first_seen,
    a.gender as gender,
    a.age as age,
    toLowCardinality(a.country) as country,
    toLowCardinality(a.city) as city,
    toLowCardinality(a.os) as os,
    toLowCardinality(a.source) as source,
    a.exp_group as exp_group
from users_of_window as u
left join attributes as a on a.user_id = u.user_id
settings join_use_nulls = 1
