{{ config(
    order_by='(event_date, user_id)'
) }}

-- Per user and day: feed and messenger metrics with the user's attributes as of that day.
-- Every user active in either service counts: feed-only, messenger-only and receive-only.
{%- set feed_metrics = metric_event_metrics('feed') -%}
{%- set message_metrics = metric_event_metrics('messages') -%}
{%- set metric_columns = feed_metrics + message_metrics -%}
{%- set feed_side, message_side = [], [] -%}
{%- for name in metric_columns -%}
  {%- set zero = metric_user_zero(name) | trim ~ ' as ' ~ name -%}
  {%- do feed_side.append(name if name in feed_metrics else zero) -%}
  {%- do message_side.append(name if name in message_metrics else zero) -%}
{%- endfor %}
with feed_users as (
    select event_date, user_id, {{ feed_metrics | join(', ') }}
    from {{ ref('int_feed_user_daily') }}
    where {{ in_window('event_date') }}
),

message_users as (
    select event_date, user_id, messages_sent, users_sent, messages_received, users_received
           {%- for name in message_metrics %}, {{ name }}{% endfor %}
    from {{ ref('int_message_user_daily') }}
    where {{ in_window('event_date') }}
),

-- Full outer semantics without a join: stack both sides and group. The metric columns (var metrics)
-- of the other side are zero.
activity as (
    select event_date, user_id,
           toUInt64(0) as messages_sent, toUInt64(0) as users_sent,
           toUInt64(0) as messages_received, toUInt64(0) as users_received,
           {{ feed_side | join(', ') }}
    from feed_users
    union all
    select event_date, user_id,
           messages_sent, users_sent, messages_received, users_received,
           {{ message_side | join(', ') }}
    from message_users
),

users_of_window as (
    select
        event_date,
        user_id,
        sum(messages_sent) as messages_sent,
        sum(users_sent) as users_sent,
        sum(messages_received) as messages_received,
        sum(users_received) as users_received,
        {%- for name in metric_columns %}
        {{ metric_user_aggregate(name) }} as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from activity
    group by event_date, user_id
),

-- Attributes as of each row's day (rule: macros/attribute_history.sql). A user with own events that
-- day: that day's row of int_user_day_attributes. Otherwise (receive-only that day): the user's
-- latest state in dim_user_attributes if it is not after the day — every day up to the window has
-- been taken in, so nothing between it and the day was missed — else (a re-run of an old day) the
-- latest earlier day in int_user_day_attributes, by ASOF JOIN. No own event up to the day: NULLs.
-- Every row takes its three candidates in one pass of joins (ClickHouse inlines a CTE at each
-- reference: reading users_of_window and the states once each keeps the model to one aggregation
-- of the day's users and one of their states), then `branch` picks one.
own_days as (
    select event_date, user_id, gender, age, country, city, os, source, exp_group
    from {{ ref('int_user_day_attributes') }}
    where {{ in_window('event_date') }} and user_id != 0
),

-- first_seen for every user of the window; the latest state (a Tuple max, the costly part) only for
-- the window's receive-only users (messages received, none sent: a superset of the rows without own
-- events that day), the only rows that read it.
states as (
    select user_id, min(first_seen) as first_seen
    from {{ ref('dim_user_attributes') }}
    where user_id in (select user_id from users_of_window) and user_id != 0
    group by user_id
),

receive_only as (
    select user_id
    from message_users
    where messages_sent = 0
),

latest_states as (
    select user_id, max(latest) as latest
    from {{ ref('dim_user_attributes') }}
    where user_id in (select user_id from receive_only) and user_id != 0
    group by user_id
),

-- The history a receive-only row may need: the earlier days of the window's receive-only users
-- whose latest state is after the window's first day (none in a run of the newest day). A superset
-- of the rows the ASOF JOIN below uses; days from the window's last on can never match.
history as (
    select event_date as history_date, user_id, gender, age, country, city, os, source, exp_group
    from {{ ref('int_user_day_attributes') }}
    where user_id in (
        select user_id from {{ ref('dim_user_attributes') }}
        where user_id in (select user_id from receive_only)
          and user_id != 0 and tupleElement(latest, 1) >= toDateTime(toDate('{{ window_dates()[0] }}') + 1)
    )
    and event_date < toDate('{{ window_dates()[-1] }}')
),

users_with_states as (
    select
        {%- for name in metric_columns + ['messages_sent', 'users_sent', 'messages_received', 'users_received'] %}
        u.{{ name }} as {{ name }},
        {%- endfor %}
        u.event_date as event_date,
        u.user_id as user_id,
        o.user_id as own_user_id,
        o.gender as own_gender,
        o.age as own_age,
        o.country as own_country,
        o.city as own_city,
        o.os as own_os,
        o.source as own_source,
        o.exp_group as own_exp_group,
        s.user_id as state_user_id,
        s.first_seen as state_first_seen,
        l.latest as state_latest
    from users_of_window as u
    left join own_days as o on o.event_date = u.event_date and o.user_id = u.user_id
    left join states as s on s.user_id = u.user_id
    left join latest_states as l on l.user_id = u.user_id
),

-- noqa: disable=ST03
-- (sqlfluff cannot parse the ASOF JOIN below)
-- branch: 1 own events that day; 2 receive-only, latest state not after the day; 3 receive-only,
-- the latest earlier day of the history; 0 none (no state, or no own event up to the day): NULLs.
users_with_attributes as (
    select
        {%- for name in metric_columns + ['messages_sent', 'users_sent', 'messages_received', 'users_received'] %}
        k.{{ name }} as {{ name }},
        {%- endfor %}
        k.event_date as event_date,
        k.user_id as user_id,
        multiIf(
            isNull(k.state_user_id), 0,
            isNotNull(k.own_user_id), 1,
            tupleElement(k.state_latest, 1) < toDateTime(k.event_date + 1), 2,
            k.state_first_seen < toDateTime(k.event_date + 1) and isNotNull(h.user_id), 3,
            0
        ) as branch,
        if(branch = 0, null, k.state_first_seen) as first_seen,
        -- each attribute from the branch's source; `latest` holds (time, gender, age, country, city, os,
        -- source, exp_group): the attribute's place in it is its place in this list + 1
        {%- for name in ['gender', 'age', 'country', 'city', 'os', 'source', 'exp_group'] %}
        {%- set own, earlier = 'k.own_' ~ name, 'h.' ~ name %}
        {%- if name in ['country', 'city', 'os', 'source'] %}
        {%- set own, earlier = 'toString(' ~ own ~ ')', 'toString(' ~ earlier ~ ')' %}
        {%- endif %}
        multiIf(
            branch = 1, {{ own }},
            branch = 2, tupleElement(k.state_latest, {{ loop.index + 1 }}),
            branch = 3, {{ earlier }},
            null
        ) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from users_with_states as k
    left asof join history as h on h.user_id = k.user_id and k.event_date > h.history_date
)

select
    event_date,
    user_id,
    {%- for name in metric_columns %}
    {{ name }},
    {%- endfor %}
    messages_sent,
    users_sent,
    messages_received,
    users_received,
    -- a feed user: any valid feed event (views and likes are the only valid actions: staging)
    views + likes > 0 as is_feed_user,
    messages_sent > 0 as is_messenger_user,
    first_seen,
    gender,
    age,
    -- the bucket of macros/dimensions.sql (var age_buckets), as the age slice: dashboards filter on it
    toLowCardinality({{ age_bucket('age') }}) as age_bucket,
    toLowCardinality(country) as country,
    toLowCardinality(city) as city,
    toLowCardinality(os) as os,
    toLowCardinality(source) as source,
    exp_group
from users_with_attributes
settings join_use_nulls = 1
