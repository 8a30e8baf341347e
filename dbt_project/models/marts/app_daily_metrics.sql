{{ config(
    order_by='event_date'
) }}

-- App report figures per day. Active = acted that day (a feed action or a sent message);
-- receiving a message alone does not make a user active. New users: first event ever that day
-- (over the history processed so far).
with users_of_window as (
    select event_date, user_id, views, likes, messages_sent, is_feed_user, is_messenger_user,
           os, source, first_seen
    from {{ ref('user_daily') }}
    where {{ in_window('event_date') }}
)

select
    event_date,
    toUInt64(countIf(is_feed_user or is_messenger_user)) as app_dau,
    toUInt64(countIf((is_feed_user or is_messenger_user) and os = 'iOS')) as app_dau_ios,
    toUInt64(countIf((is_feed_user or is_messenger_user) and os = 'Android')) as app_dau_android,
    toUInt64(countIf(is_feed_user and not is_messenger_user)) as feed_only_users,
    toUInt64(countIf(is_messenger_user and not is_feed_user)) as messenger_only_users,
    toUInt64(countIf(is_feed_user and is_messenger_user)) as both_users,
    toUInt64(countIf((is_feed_user or is_messenger_user) and toDate(first_seen) = event_date)) as new_users,
    toUInt64(countIf((is_feed_user or is_messenger_user) and toDate(first_seen) = event_date
                     and source = 'ads')) as new_users_ads,
    toUInt64(countIf((is_feed_user or is_messenger_user) and toDate(first_seen) = event_date
                     and source = 'organic')) as new_users_organic,
    toUInt64(countIf(is_feed_user)) as feed_dau,
    toUInt64(sum(views)) as views,
    toUInt64(sum(likes)) as likes,
    if(views = 0, 0, likes / views) as ctr,
    if(feed_dau = 0, 0, likes / feed_dau) as likes_per_user,
    toUInt64(countIf(is_messenger_user)) as messenger_dau,
    toUInt64(sum(messages_sent)) as messages,
    if(messenger_dau = 0, 0, messages / messenger_dau) as messages_per_user
from users_of_window
group by event_date
