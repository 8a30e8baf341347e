{#
  Point-in-time user attributes: the rule and the bookkeeping that keeps it true whichever
  partitions were materialized, and in whatever order.

  Rule. A user's attributes "as of day D" are those of their latest own event (a feed action or a
  sent message) up to the end of D, over all the source data — not only the days the ETL has
  processed. Tie-break: among a user's events in the same second, each attribute takes its
  greatest value (so the result never depends on the order rows are read in). A user with no own
  event up to D (e.g. receive-only) has none: `unknown` in the slices. first_seen as of D is the
  time of the user's first own event, NULL if it is after D.

  Bookkeeping. int_user_day_attributes holds, per day and user with own events, the first and last
  event's time and the attributes at the last one, plus one marker row (user_id 0, never a real
  user: staging rejects it) for every day it has processed. A run computes its window's days and
  every earlier day of the source that has no marker yet (a fresh install running only yesterday
  reads the history once), so every day up to the window is present. dim_user_attributes aggregates those
  rows per user (first_seen = min, latest = max((time, attributes…))) and keeps its own markers,
  so it too takes in every processed day exactly once more (ingesting a day twice changes nothing).
#}

{# The source's first day (None when empty): the first row in time order of either table,
   read in the tables' (time, …) order, so it costs a granule, not a scan. #}
{% macro source_first_day() %}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set query -%}
    select toString(toDate(min(first_time))) from (
      (select time as first_time from {{ source('app', 'feed_actions') }} order by time limit 1)
      union all
      (select time as first_time from {{ source('app', 'message_actions') }} order by time limit 1)
    )
    having count() > 0
  {%- endset -%}
  {%- set rows = run_query(query).rows -%}
  {{ return(modules.datetime.date.fromisoformat(rows[0][0]) if rows else none) }}
{% endmacro %}

{# Days before the window that `relation` has no marker row for (marker_column = the day's column,
   user_id = 0), from the source's first day on. Empty at parse time. #}
{% macro days_without_marker(relation, marker_column) %}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {%- set window = window_dates() -%}
  {%- set window_start = modules.datetime.date.fromisoformat(window[0]) -%}
  {%- set first = source_first_day() -%}
  {%- if first is none or first >= window_start -%}{{ return([]) }}{%- endif -%}
  {%- set done = [] -%}
  {%- if relation is not none -%}
    {%- set query -%}
      select distinct toString({{ marker_column }}) from {{ relation }}
      where user_id = 0 and {{ marker_column }} >= toDate('{{ first }}') and {{ marker_column }} < toDate('{{ window_start }}')
    {%- endset -%}
    {%- for row in run_query(query).rows -%}{%- do done.append(row[0]) -%}{%- endfor -%}
  {%- endif -%}
  {%- set missing = [] -%}
  {%- for offset in range((window_start - first).days) -%}
    {%- set day = (first + modules.datetime.timedelta(days=offset)).isoformat() -%}
    {%- if day not in done -%}{%- do missing.append(day) -%}{%- endif -%}
  {%- endfor -%}
  {{ return(missing) }}
{% endmacro %}

{# SQL predicate: the DateTime `column` lies on one of `days` (contiguous days become one range,
   so the source's time key prunes the read). #}
{% macro time_on_days(column, days) %}
  {%- set ranges = [] -%}
  {%- for day in days | sort -%}
    {%- set date = modules.datetime.date.fromisoformat(day) -%}
    {%- if ranges and ranges[-1][1] == date -%}
      {%- set previous = ranges.pop() -%}
      {%- do ranges.append([previous[0], date + modules.datetime.timedelta(days=1)]) -%}
    {%- else -%}
      {%- do ranges.append([date, date + modules.datetime.timedelta(days=1)]) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if not ranges -%}0{%- endif -%}
  {%- for first, after in ranges -%}
    ({{ column }} >= toDateTime(toDate('{{ first }}')) and {{ column }} < toDateTime(toDate('{{ after }}'))){{ " or " if not loop.last }}
  {%- endfor -%}
{% endmacro %}

{# SQL predicate: the Date `column` is one of `days`. #}
{% macro date_in(column, days) -%}
  {%- if days -%}
    {{ column }} in ({% for day in days %}toDate('{{ day }}'){{ ", " if not loop.last }}{% endfor %})
  {%- else -%}
    0
  {%- endif -%}
{%- endmacro %}

{#- The days each user had own events (a feed action or a sent message: the rows of
    int_user_day_attributes, which holds every day up to the window), from `days_back` days before
    the window's first day to its last: the input of the rolling-window marts (audience_lifecycle,
    active_users_daily), whose day D then depends only on the source up to D. -#}
{% macro own_active_days(days_back) %}
  {%- set window = window_dates() -%}
    select user_id, event_date as active_day
    from {{ ref('int_user_day_attributes') }}
    where user_id != 0
      and event_date >= toDate('{{ window[0] }}') - {{ days_back }}
      and event_date <= toDate('{{ window[-1] }}')
{% endmacro %}

{#- The window's days D that an active day counts for, D in [column, column + span), as an array to
    ARRAY JOIN: a one-day run makes at most one row per active day instead of `span` rows filtered
    afterwards (the rolling-window marts read `span` days of history per window day). -#}
{% macro window_days_within(column, span) %}
  {%- set window = window_dates() -%}
  arrayFilter(d -> d >= {{ column }} and d - {{ column }} < {{ span }},
              [{% for day in window %}toDate('{{ day }}'){{ ', ' if not loop.last }}{% endfor %}])
{%- endmacro %}
