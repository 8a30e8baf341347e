{{ config(order_by='event_date') }}

-- The weekly audience lifecycle of the seven days ending each day D (the course's weekly active-user
-- breakdown, rolling daily): new = first event ever within the week; retained = active in the week
-- and in the seven days before it; returning = active in the week, not in the seven days before,
-- first seen earlier; gone = active in the seven days before, not in the week. Active = own events
-- (a feed action or a sent message, as DAU counts them) = the rows of int_user_day_attributes,
-- which holds every day up to the window (macros/attribute_history.sql): D's row depends only on
-- the source up to D, whichever days were materialized before.
with active_days as (
    {{ own_active_days(13) }}
),

-- each active day counts for the weeks ending on it and the six days after (in_week), and as the
-- previous week of the seven days after those (in_previous_week)
user_weeks as (
    select
        week_end as event_date,
        user_id,
        max(week_end - active_day < 7) as in_week,
        max(week_end - active_day >= 7) as in_previous_week
    from active_days
    array join {{ window_days_within('active_day', 14) }} as week_end
    group by week_end, user_id
),

-- the first event's day: exact, since every day up to the window has been taken in
first_days as (
    select user_id, toDate(min(first_seen)) as first_day
    from {{ ref('dim_user_attributes') }}
    where user_id in (select user_id from user_weeks)
    group by user_id
)

select
    w.event_date as event_date,
    toUInt64(countIf(w.in_week and f.first_day > w.event_date - 7)) as new_users,
    toUInt64(countIf(w.in_week and w.in_previous_week)) as retained_users,
    toUInt64(countIf(w.in_week and not w.in_previous_week and f.first_day <= w.event_date - 7)) as returning_users,
    toUInt64(countIf(not w.in_week and w.in_previous_week)) as gone_users,
    toUInt64(countIf(w.in_week)) as active_users
from user_weeks as w
inner join first_days as f on f.user_id = w.user_id
group by w.event_date
