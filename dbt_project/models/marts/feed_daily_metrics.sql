{{ config(
    order_by='(event_date, os)'
) }}

-- Feed report figures per day: DAU, views, likes, CTR for all users ('all') and per os.
with feed_users_of_window as (
    select event_date, ifNull(os, 'unknown') as os, views, likes
    from {{ ref('user_daily') }}
    where {{ in_window('event_date') }} and is_feed_user
),

by_os as (
    select event_date, os, toUInt64(count()) as dau, toUInt64(sum(views)) as views, toUInt64(sum(likes)) as likes
    from feed_users_of_window
    group by event_date, os
),

overall as (
    select event_date, 'all' as os, toUInt64(count()) as dau, toUInt64(sum(views)) as views,
           toUInt64(sum(likes)) as likes
    from feed_users_of_window
    group by event_date
),

per_os_and_overall as (
    select event_date, os, dau, views, likes from overall
    union all
    select event_date, os, dau, views, likes from by_os
)

select
    event_date,
    toLowCardinality(os) as os,
    dau,
    views,
    likes,
    if(views = 0, 0, likes / views) as ctr
from per_os_and_overall
