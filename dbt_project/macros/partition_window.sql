{#
  The partition window of a run: [start_date, end_date), dates as 'YYYY-MM-DD'.
  Dagster passes both as --vars; without them the window is yesterday (machine's local date).
#}
{% macro window_dates() %}
  {%- set start = var('start_date', none) -%}
  {%- set end = var('end_date', none) -%}
  {%- if start is none and end is none -%}
    {%- set today = modules.datetime.date.today() -%}
    {%- set start = (today - modules.datetime.timedelta(days=1)).isoformat() -%}
    {%- set end = today.isoformat() -%}
  {%- elif start is none or end is none -%}
    {{ exceptions.raise_compiler_error("pass both vars start_date and end_date (got start_date=" ~ start ~ ", end_date=" ~ end ~ ")") }}
  {%- endif -%}
  {%- set first = parse_date_var('start_date', start) -%}
  {%- set last = parse_date_var('end_date', end) -%}
  {%- if last <= first -%}
    {{ exceptions.raise_compiler_error("end_date (" ~ end ~ ") must be after start_date (" ~ start ~ "); the window is [start_date, end_date)") }}
  {%- endif -%}
  {%- set days = [] -%}
  {%- for offset in range((last - first).days) -%}
    {%- do days.append((first + modules.datetime.timedelta(days=offset)).isoformat()) -%}
  {%- endfor -%}
  {{ return(days) }}
{% endmacro %}

{% macro parse_date_var(name, value) %}
  {%- set text = value | string -%}
  {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', text) -%}
    {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a date YYYY-MM-DD, got '" ~ text ~ "'") }}
  {%- endif -%}
  {{ return(modules.datetime.date.fromisoformat(text)) }}
{% endmacro %}

{# SQL predicate: `column` (a Date) lies in the run's window. #}
{% macro in_window(column) %}
  {%- set days = window_dates() -%}
  {{ column }} >= toDate('{{ days[0] }}') and {{ column }} <= toDate('{{ days[-1] }}')
{% endmacro %}

{# SQL predicate on a DateTime column, written so ClickHouse prunes by the source's time key. #}
{% macro time_in_window(column) %}
  {%- set days = window_dates() -%}
  {{ column }} >= toDateTime(toDate('{{ days[0] }}')) and {{ column }} < toDateTime(toDate('{{ days[-1] }}') + 1)
{% endmacro %}
