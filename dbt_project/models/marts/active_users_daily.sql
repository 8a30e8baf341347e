{{ config(order_by='event_date') }}

-- DAU, WAU and MAU of each day D: users with own events (a feed action or a sent message, as
-- app_daily_metrics' DAU counts them) on D, in the 7 days and in the 30 days ending D — exact
-- counts. From int_user_day_attributes, which holds every day up to the window (macros/
-- attribute_history.sql), so D's row depends only on the source up to D, whichever days were
-- materialized before. history_days: the days of history inside the 30-day window (a window
-- reaching before the first day of the data counts only the days it has).
with active_days as (
    {{ own_active_days(29) }}
),

-- each active day counts for the 30 windows ending on it and the 29 days after
user_windows as (
    select
        window_end as event_date,
        user_id,
        min(window_end - active_day) as days_since_active
    from active_days
    array join {{ window_days_within('active_day', 30) }} as window_end
    group by window_end, user_id
),

first_day as (
    -- the first day of the data (marker rows: one per processed day, every day up to the window)
    select min(event_date) as first_event_date
    from {{ ref('int_user_day_attributes') }}
    where user_id = 0
)

select
    event_date,
    toUInt64(countIf(days_since_active = 0)) as dau,
    toUInt64(countIf(days_since_active < 7)) as wau,
    toUInt64(count()) as mau,
    toUInt8(least(30, event_date - (select first_event_date from first_day) + 1)) as history_days
from user_windows
group by event_date
