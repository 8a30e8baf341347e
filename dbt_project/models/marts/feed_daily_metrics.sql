{{ config(
    order_by='(event_date, os)'
) }}

-- Feed report figures per day: DAU, views, likes, CTR for all users ('all') and per os — the
-- metrics feed_users, views, likes and ctr of the metric layer (metrics_daily), in total and by os,
-- as columns. An os appears when it has feed users that day.
with feed_metrics_of_window as (
    select event_date, if(dimension = 'total', 'all', dimension_value) as os, metric, value
    from {{ ref('metrics_daily') }}
    where {{ in_window('event_date') }}
      and dimension in ('total', 'os')
      and metric in ('feed_users', 'views', 'likes', 'ctr')
),

per_os_and_overall as (
    select
        event_date,
        os,
        toUInt64(anyIf(value, metric = 'feed_users')) as dau,
        toUInt64(anyIf(value, metric = 'views')) as views,
        toUInt64(anyIf(value, metric = 'likes')) as likes,
        anyIf(value, metric = 'ctr') as ctr
    from feed_metrics_of_window
    group by event_date, os
)

select event_date, toLowCardinality(os) as os, dau, views, likes, ctr
from per_os_and_overall
where dau > 0
