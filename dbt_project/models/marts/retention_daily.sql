{{ config(order_by='(event_date, cohort_date, source)') }}

-- Cohort activity per day: the users active on day D (a feed action or a sent message, as
-- app_daily_metrics counts DAU) by the day they were first seen (their cohort) and source. A
-- cohort's size is its day-0 row (= that day's new users); its N-day retention is the users of
-- day cohort_date + N over its size. Keyed by the activity day, so the rows of D depend only on the
-- source up to D (first_seen and source are as of D in user_daily) and build incrementally.
with active_users as (
    -- first_seen is NULL only for users without an own event (never active): filtered below
    select event_date, toDate(assumeNotNull(first_seen)) as cohort_date, ifNull(source, 'unknown') as source
    from {{ ref('user_daily') }}
    where {{ in_window('event_date') }}
      and (is_feed_user or is_messenger_user)
      and first_seen is not null
)

select
    event_date,
    cohort_date,
    toUInt16(event_date - cohort_date) as day_number,
    toLowCardinality(source) as source,
    toUInt64(count()) as users
from active_users
group by event_date, cohort_date, source
