{{ config(meta={'dagster': {'ref': {'name': 'retention_daily'}}}) }}
-- Per day: the users of the day's own cohort (day_number = 0) are that day's new users in
-- app_daily_metrics, and all cohorts together are its DAU.
with cohorts as (
    select event_date, sumIf(users, day_number = 0) as day_zero, sum(users) as active
    from {{ ref('retention_daily') }}
    where {{ in_window('event_date') }}
    group by event_date
),

app as (
    select event_date, new_users, app_dau
    from {{ ref('app_daily_metrics') }}
    where {{ in_window('event_date') }}
)

select a.event_date, a.new_users, a.app_dau, c.day_zero, c.active
from app as a
left join cohorts as c on c.event_date = a.event_date
where c.day_zero != a.new_users or c.active != a.app_dau
