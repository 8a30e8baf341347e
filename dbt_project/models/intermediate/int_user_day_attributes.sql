-- depends_on: {{ ref('stg_feed_actions') }}
{{ config(
    order_by='(user_id)'
) }}

{#- Days this run computes: its window, and every earlier day of the source not processed yet. -#}
{%- set window = window_dates() -%}
{%- set backfill = days_without_marker(this if is_incremental() else none, 'event_date') -%}

-- Per day and user with own events (feed actions, sent messages): first and last event's time and
-- the attributes at the last one (rule and tie-break: macros/attribute_history.sql), plus a marker
-- row (user_id 0) per processed day. One partition per day, each a function of that day's source
-- rows only; user_daily reads a user's attributes as of a day from here and dim_user_attributes.
-- The window's feed side comes from int_feed_user_daily (the day's feed events are scanned once);
-- earlier days missing here (a fresh install, days never materialized) are read from staging.
with feed_users as (
    select event_date, user_id, first_action_at as first_time, last_action_at as last_time,
           gender, age, country, city, os, source, exp_group
    from {{ ref('int_feed_user_daily') }}
    where {{ in_window('event_date') }}
    {% if backfill %}
    union all
    select event_date, user_id, min(time), max(time),
           {{ latest_value('gender', 'time', 'int') }},
           {{ latest_value('age', 'time', 'int') }},
           {{ latest_value('country', 'time') }},
           {{ latest_value('city', 'time') }},
           {{ latest_value('os', 'time') }},
           {{ latest_value('source', 'time') }},
           {{ latest_value('exp_group', 'time', 'int') }}
    from {{ ref('stg_feed_actions') }}
    where {{ time_on_days('time', backfill) }}
    group by event_date, user_id
    {% endif %}
),

senders as (
    select event_date, user_id, time as first_time, time as last_time,
           gender, age, country, city, os, source, exp_group
    from {{ ref('stg_message_actions') }}
    where {{ time_on_days('time', window + backfill) }}
),

own_events as (
    select event_date, user_id, first_time, last_time, gender, age, toString(country) as country,
           toString(city) as city, toString(os) as os, toString(source) as source, exp_group
    from feed_users
    union all
    select event_date, user_id, first_time, last_time, gender, age, country, city, os, source, exp_group
    from senders
),

users_of_days as (
    select
        event_date,
        user_id,
        min(first_time) as day_first_time,
        max(last_time) as day_last_time,
        {{ latest_value('gender', 'last_time', 'int') }} as gender,
        {{ latest_value('age', 'last_time', 'int') }} as age,
        {{ latest_value('country', 'last_time') }} as country,
        {{ latest_value('city', 'last_time') }} as city,
        {{ latest_value('os', 'last_time') }} as os,
        {{ latest_value('source', 'last_time') }} as source,
        {{ latest_value('exp_group', 'last_time', 'int') }} as exp_group
    from own_events
    group by event_date, user_id
),

markers as (
    select arrayJoin([
        {%- for day in window + backfill %}toDate('{{ day }}'){{ ", " if not loop.last }}{% endfor -%}
    ]) as event_date
)

select
    event_date,
    toUInt32(user_id) as user_id,
    day_first_time as first_time,
    day_last_time as last_time,
    gender,
    age,
    toLowCardinality(country) as country,
    toLowCardinality(city) as city,
    toLowCardinality(os) as os,
    toLowCardinality(source) as source,
    exp_group
from users_of_days
union all
select event_date, toUInt32(0), toDateTime(event_date), toDateTime(event_date), toInt8(0), toInt16(0),
       toLowCardinality(''), toLowCardinality(''), toLowCardinality(''), toLowCardinality(''), toInt8(0)
from markers
