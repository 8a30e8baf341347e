{{ config(order_by='(event_date, metric, dimension, dimension_value)') }}

-- Every metric of the metric layer (var metrics, dbt_project.yml) per day, in total and by every slice
-- it allows, from user_daily — so with staging's validity rule and the attributes as of the day
-- (a day's rows depend only on the source up to that day). Long: one row per (day, metric, slice
-- value); value = numerator / denominator for ratios (0 when the denominator is 0), the count itself
-- otherwise (denominator 1). The report marts (feed_daily_metrics, app_daily_metrics), the reports and
-- the dashboards read their figures from here. Compiled by macros/metrics.sql.
{%- set metrics = metric_definitions() %}
{%- set dimension_sql = metric_dimension_sql() %}
{%- set all_dims = dimension_sql.keys() | list %}
{%- set dimensions = [('total', "'total'")] %}
{%- for dim in all_dims %}{% do dimensions.append((dim, dimension_sql[dim])) %}{% endfor %}
with users_of_window as (
    select *
    from {{ ref('user_daily') }}
    where {{ in_window('event_date') }}
),
{% for dim, value_sql in dimensions %}
{#- the metrics of this slice, and the counts they need -#}
{%- set shown = [] -%}
{%- set counted = [] -%}
{%- for name, m in metrics.items() if dim == 'total' or dim in m.get('slices', all_dims) -%}
  {%- do shown.append(name) -%}
  {%- for part in ([m.numerator, m.denominator] if m.type == 'ratio' else [name]) -%}
    {%- if part not in counted %}{% do counted.append(part) %}{% endif -%}
  {%- endfor -%}
{%- endfor %}
by_{{ dim }} as (
    select
        event_date,
        '{{ dim }}' as dimension,
        {{ value_sql }} as dimension_value,
        {%- for name in counted %}
        {{ metric_daily_value(name) }} as {{ name }},
        {%- endfor %}
        [
            {%- for name in shown %}
            {%- set m = metrics[name] %}
            {%- if m.type == 'ratio' %}
            tuple('{{ name }}', {{ m.numerator }}, {{ m.denominator }})
            {%- else %}
            tuple('{{ name }}', {{ name }}, 1.0)
            {%- endif %}{{ ',' if not loop.last }}
            {%- endfor %}
        ] as metric_rows
    from users_of_window
    group by event_date, dimension_value
),
{% endfor %}
slice_rows as (
    {%- for dim, value_sql in dimensions %}
    select event_date, dimension, dimension_value, metric_row.1 as metric,
           metric_row.2 as numerator, metric_row.3 as denominator
    from by_{{ dim }}
    array join metric_rows as metric_row
    {{ "union all" if not loop.last }}
    {%- endfor %}
)

select
    event_date,
    toLowCardinality(metric) as metric,
    toLowCardinality(dimension) as dimension,
    toString(dimension_value) as dimension_value,
    toFloat64(if(denominator = 0, 0, numerator / denominator)) as value,
    toFloat64(numerator) as numerator,
    toFloat64(denominator) as denominator
from slice_rows
