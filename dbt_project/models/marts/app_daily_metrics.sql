{{ config(
    order_by='event_date'
) }}

-- App report figures per day, as columns: metrics of the metric layer (metrics_daily) in total and
-- in the slices the report shows (app DAU by os, new users by source). Active = acted that day (a
-- feed action or a sent message); receiving a message alone does not make a user active. New users:
-- first own event ever that day.
with app_metrics_of_window as (
    select event_date, metric, dimension, dimension_value, value
    from {{ ref('metrics_daily') }}
    where {{ in_window('event_date') }}
      and (dimension = 'total'
           or (dimension = 'os' and metric = 'app_users')
           or (dimension = 'source' and metric = 'new_users'))
)

select
    event_date,
    toUInt64(anyIf(value, metric = 'app_users' and dimension = 'total')) as app_dau,
    toUInt64(anyIf(value, metric = 'app_users' and dimension = 'os' and dimension_value = 'iOS')) as app_dau_ios,
    toUInt64(anyIf(value, metric = 'app_users' and dimension = 'os' and dimension_value = 'Android'))
        as app_dau_android,
    toUInt64(anyIf(value, metric = 'feed_only_users' and dimension = 'total')) as feed_only_users,
    toUInt64(anyIf(value, metric = 'messenger_only_users' and dimension = 'total')) as messenger_only_users,
    toUInt64(anyIf(value, metric = 'both_users' and dimension = 'total')) as both_users,
    toUInt64(anyIf(value, metric = 'new_users' and dimension = 'total')) as new_users,
    toUInt64(anyIf(value, metric = 'new_users' and dimension = 'source' and dimension_value = 'ads'))
        as new_users_ads,
    toUInt64(anyIf(value, metric = 'new_users' and dimension = 'source' and dimension_value = 'organic'))
        as new_users_organic,
    toUInt64(anyIf(value, metric = 'feed_users' and dimension = 'total')) as feed_dau,
    toUInt64(anyIf(value, metric = 'views' and dimension = 'total')) as views,
    toUInt64(anyIf(value, metric = 'likes' and dimension = 'total')) as likes,
    anyIf(value, metric = 'ctr' and dimension = 'total') as ctr,
    anyIf(value, metric = 'likes_per_user' and dimension = 'total') as likes_per_user,
    toUInt64(anyIf(value, metric = 'messenger_users' and dimension = 'total')) as messenger_dau,
    toUInt64(anyIf(value, metric = 'messages' and dimension = 'total')) as messages,
    anyIf(value, metric = 'messages_per_user' and dimension = 'total') as messages_per_user
from app_metrics_of_window
group by event_date
