{{ config(
    materialized='incremental',
    incremental_strategy='append',
    engine=table_engine('AggregatingMergeTree'),
    order_by='(user_id, ingested_day)',
    partition_by=none
) }}

{#- Days to take in: the window's, and every day int_user_day_attributes has processed before the
    window that this table has not taken in yet (a run killed between the two models, a fresh
    install's history). -#}
{%- set window = window_dates() -%}
{%- set catch_up = [] -%}
{%- if execute -%}
  {%- set query -%}
    select distinct toString(event_date) from {{ ref('int_user_day_attributes') }}
    where user_id = 0 and event_date < toDate('{{ window[0] }}')
    {% if is_incremental() %}
      and event_date not in (select ingested_day from {{ this }} where user_id = 0)
    {% endif %}
    order by 1
  {%- endset -%}
  {%- for row in run_query(query).rows -%}{%- do catch_up.append(row[0]) -%}{%- endfor -%}
{%- endif -%}

-- Per user: first_seen = min and latest = max((last time, attributes…)) over the days processed so
-- far (SimpleAggregateFunction columns: merges keep them, reads are plain). Appended per run;
-- taking a day in twice changes nothing. The rows of user 0 are markers: ingested_day = a day taken
-- in. Because every day up to a run's window is present (macros/attribute_history.sql), first_seen
-- <= D is exact for a user with events up to D, and a latest time within D means nothing later has
-- been seen, so it is the user's state as of D; otherwise user_daily looks the day up in
-- int_user_day_attributes. Read through dim_users_current.
with user_days as (
    select user_id, first_time, last_time, gender, age, country, city, os, source, exp_group
    from {{ ref('int_user_day_attributes') }}
    where user_id != 0 and ({{ date_in('event_date', window + catch_up) }})
)

select
    user_id,
    toDate(0) as ingested_day,
    cast(min(first_time) as SimpleAggregateFunction(min, DateTime)) as first_seen,
    cast(
        max((last_time, gender, age, toString(country), toString(city), toString(os), toString(source), exp_group))
        as SimpleAggregateFunction(max, Tuple(DateTime, Int8, Int16, String, String, String, String, Int8))
    ) as latest
from user_days
group by user_id
union all
select
    toUInt32(0),
    arrayJoin([
        {%- for day in window + catch_up %}toDate('{{ day }}'){{ ", " if not loop.last }}{% endfor -%}
    ]),
    cast(toDateTime(0) as SimpleAggregateFunction(min, DateTime)),
    cast((toDateTime(0), toInt8(0), toInt16(0), '', '', '', '', toInt8(0))
         as SimpleAggregateFunction(max, Tuple(DateTime, Int8, Int16, String, String, String, String, Int8)))
