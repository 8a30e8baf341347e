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
own_days as (
    select event_date, user_id, gender, age, country, city, os, source, exp_group
    from {{ ref('int_user_day_attributes') }}
    where {{ in_window('event_date') }} and user_id != 0
),

users_of_window_with_own as (
    select u.event_date as event_date, u.user_id as user_id, ifNull(o.user_id, 0) != 0 as has_own_events
    from users_of_window as u
    left join own_days as o on o.event_date = u.event_date and o.user_id = u.user_id
),

states as (
    select user_id, min(first_seen) as first_seen, max(latest) as latest
    from {{ ref('dim_user_attributes') }}
    where user_id in (select user_id from users_of_window) and user_id != 0
    group by user_id
),

-- Receive-only rows whose user's state is later than the day: look the day up in the history.
from_history_keys as (
    select k.event_date as event_date, k.user_id as user_id
    from users_of_window_with_own as k
    inner join states as s on s.user_id = k.user_id
    where not k.has_own_events
      and s.first_seen < toDateTime(k.event_date + 1)
      and tupleElement(s.latest, 1) >= toDateTime(k.event_date + 1)
),

-- noqa: disable=ST03
-- (sqlfluff cannot parse the ASOF JOIN below that reads this CTE)
history as (
    select event_date as history_date, user_id, gender, age, country, city, os, source, exp_group
    from {{ ref('int_user_day_attributes') }}
    where user_id in (select user_id from from_history_keys)
      and event_date < (select max(event_date) from from_history_keys)
),

from_history as (
    select k.event_date as event_date, k.user_id as user_id, h.gender as gender, h.age as age,
           toString(h.country) as country, toString(h.city) as city, toString(h.os) as os,
           toString(h.source) as source, h.exp_group as exp_group
    from from_history_keys as k
    asof inner join history as h on h.user_id = k.user_id and k.event_date > h.history_date
),

attributes as (
    -- own events that day
    select o.event_date as event_date, o.user_id as user_id, s.first_seen as first_seen, o.gender as gender,
           o.age as age, toString(o.country) as country, toString(o.city) as city, toString(o.os) as os,
           toString(o.source) as source, o.exp_group as exp_group
    from own_days as o
    inner join states as s on s.user_id = o.user_id
    union all
    -- receive-only, latest state not after the day
    select k.event_date, k.user_id, s.first_seen, tupleElement(s.latest, 2), tupleElement(s.latest, 3),
           tupleElement(s.latest, 4), tupleElement(s.latest, 5), tupleElement(s.latest, 6),
           tupleElement(s.latest, 7), tupleElement(s.latest, 8)
    from users_of_window_with_own as k
    inner join states as s on s.user_id = k.user_id
    where not k.has_own_events and tupleElement(s.latest, 1) < toDateTime(k.event_date + 1)
    union all
    -- receive-only, looked up in the history
    select h.event_date, h.user_id, s.first_seen, h.gender, h.age, h.country, h.city, h.os, h.source,
           h.exp_group
    from from_history as h
    inner join states as s on s.user_id = h.user_id
)

select
    u.event_date as event_date,
    u.user_id as user_id,
    {%- for name in metric_columns %}
    u.{{ name }} as {{ name }},
    {%- endfor %}
    u.messages_sent as messages_sent,
    u.users_sent as users_sent,
    u.messages_received as messages_received,
    u.users_received as users_received,
    -- a feed user: any valid feed event (views and likes are the only valid actions: staging)
    u.views + u.likes > 0 as is_feed_user,
    u.messages_sent > 0 as is_messenger_user,
    a.first_seen as first_seen,
    a.gender as gender,
    a.age as age,
    -- the bucket of macros/dimensions.sql (var age_buckets), as the age slice: dashboards filter on it
    toLowCardinality({{ age_bucket('a.age') }}) as age_bucket,
    toLowCardinality(a.country) as country,
    toLowCardinality(a.city) as city,
    toLowCardinality(a.os) as os,
    toLowCardinality(a.source) as source,
    a.exp_group as exp_group
from users_of_window as u
left join attributes as a on a.event_date = u.event_date and a.user_id = u.user_id
settings join_use_nulls = 1
