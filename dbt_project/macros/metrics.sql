{#
  The metric layer's compiler: var `metrics` (dbt_project.yml; docs/metrics.md) into SQL.

  Grain of each piece:
  - int_feed_user_daily / int_message_user_daily: one column per event metric (count, or users
    with a `source`) per user and day — metric_event_columns(source);
  - user_daily carries those columns (metric_user_columns: sums counts, ORs user flags);
  - metrics_daily: each metric per day and slice from user_daily rows — metric_daily_value;
  - metrics_15min: the realtime metrics per 15-minute bucket from the raw events — metric_bucket_columns.
  feedpulse/metrics.py reads and validates the same entries for Python (titles, formats, reports,
  alerts); tests/test_metric_layer.py checks both accept and reject the same definitions.
#}

{% macro metric_dimension_sql() %}
  {#- The slices a metric may be cut by: dimension → its value over a user_daily row (as the
      os / gender / age slice models label them). -#}
  {{ return({
      'os': "ifNull(toString(os), 'unknown')",
      'gender': gender_label('gender'),
      'age': age_bucket('age'),
      'source': "ifNull(toString(source), 'unknown')",
      'country': "ifNull(toString(country), 'unknown')",
      'city': "ifNull(toString(city), 'unknown')",
      'exp_group': "ifNull(toString(exp_group), 'unknown')",
  }) }}
{% endmacro %}

{% macro metric_definitions() %}
  {%- set metrics = var('metrics', {}) -%}
  {%- set dims = metric_dimension_sql().keys() | list -%}
  {%- set problems = [] -%}
  {%- if metrics is not mapping or not metrics -%}
    {{ exceptions.raise_compiler_error("var metrics: expected a mapping of metric name → definition (dbt_project.yml)") }}
  {%- endif -%}
  {%- for name, m in metrics.items() -%}
    {%- set where = "var metrics: metric '" ~ name ~ "'" -%}
    {%- if not modules.re.match('^[a-z][a-z0-9_]*$', name) -%}
      {%- do problems.append(where ~ ": the name must be lower_snake_case (it becomes a column)") -%}
    {%- endif -%}
    {%- if m is not mapping -%}
      {%- do problems.append(where ~ ": expected a mapping") -%}
    {%- else -%}
      {%- set kind = m.get('type') -%}
      {%- if kind not in ['count', 'users', 'ratio'] -%}
        {%- do problems.append(where ~ ": type must be count, users or ratio (got " ~ kind ~ ")") -%}
      {%- elif kind == 'ratio' -%}
        {%- for side in ['numerator', 'denominator'] -%}
          {%- set ref_name = m.get(side) -%}
          {%- if ref_name not in metrics -%}
            {%- do problems.append(where ~ ": " ~ side ~ " '" ~ ref_name ~ "' is not a metric") -%}
          {%- elif metrics[ref_name].get('type') == 'ratio' -%}
            {%- do problems.append(where ~ ": " ~ side ~ " '" ~ ref_name ~ "' is a ratio (use counts or users)") -%}
          {%- endif -%}
        {%- endfor -%}
      {%- elif m.get('where') is not none -%}
        {%- if kind != 'users' or m.get('source') is not none -%}
          {%- do problems.append(where ~ ": `where` is for users metrics without a source") -%}
        {%- endif -%}
      {%- elif m.get('source') not in ['feed', 'messages'] -%}
        {%- do problems.append(where ~ ": source must be feed or messages (got " ~ m.get('source') ~ ")") -%}
      {%- endif -%}
      {%- if m.get('distinct') is not none and kind != 'count' -%}
        {%- do problems.append(where ~ ": `distinct` is for count metrics") -%}
      {%- endif -%}
      {%- for dim in m.get('slices', []) -%}
        {%- if dim not in dims -%}
          {%- do problems.append(where ~ ": unknown slice '" ~ dim ~ "' (known: " ~ (dims | join(', ')) ~ ")") -%}
        {%- endif -%}
      {%- endfor -%}
    {%- endif -%}
  {%- endfor -%}
  {%- for required in ['views', 'likes'] -%}
    {%- if metrics.get(required, {}).get('source') != 'feed' or metrics.get(required, {}).get('type') != 'count' -%}
      {%- do problems.append("var metrics: '" ~ required ~ "' must be a count metric of source feed (the slice table daily_slice_metrics sums it)") -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if problems -%}
    {{ exceptions.raise_compiler_error(problems | join('\n')) }}
  {%- endif -%}
  {{ return(metrics) }}
{% endmacro %}

{#- Metrics counted per user and day from one source's events (count, or users with a source). -#}
{% macro metric_event_metrics(source) %}
  {%- set names = [] -%}
  {%- for name, m in metric_definitions().items() -%}
    {%- if m.get('type') in ['count', 'users'] and m.get('source') == source and m.get('where') is none -%}
      {%- do names.append(name) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(names) }}
{% endmacro %}

{#- The per-user-and-day columns of one source's metrics, over that source's staging events.
    stage 'partial': the same columns in two stages, for a model that first groups a user's events finer
    (e.g. per attribute combination) and then per user — partial per group here, combined per user by
    metric_event_combined_columns; together equal to the 'whole' columns over the user's events. -#}
{% macro metric_event_columns(source, stage='whole') %}
  {%- if stage not in ['whole', 'partial'] -%}
    {{ exceptions.raise_compiler_error("metric_event_columns: stage must be whole or partial (got " ~ stage ~ ")") }}
  {%- endif -%}
  {%- set metrics = metric_definitions() -%}
  {%- for name in metric_event_metrics(source) -%}
    {%- set m = metrics[name] -%}
    {%- set condition = '(' ~ m.get('filter', '1') ~ ')' -%}
    {%- if m.get('distinct') and stage == 'partial' -%}
      uniqExactIfState({{ m.distinct }}, {{ condition }}) as {{ name }}
    {%- elif m.get('distinct') -%}
      toUInt64(uniqExactIf({{ m.distinct }}, {{ condition }})) as {{ name }}
    {%- elif m.type == 'users' and stage == 'whole' -%}
      toUInt8(countIf({{ condition }}) > 0) as {{ name }}
    {%- else -%}
      toUInt64(countIf({{ condition }})) as {{ name }}
    {%- endif -%}
    {{ ',\n        ' if not loop.last }}
  {%- endfor -%}
{% endmacro %}

{% macro metric_event_combined_columns(source) %}
  {%- set metrics = metric_definitions() -%}
  {%- for name in metric_event_metrics(source) -%}
    {%- set m = metrics[name] -%}
    {%- if m.type == 'users' -%}
      toUInt8(sum({{ name }}) > 0) as {{ name }}
    {%- elif m.get('distinct') -%}
      toUInt64(uniqExactMerge({{ name }})) as {{ name }}
    {%- else -%}
      toUInt64(sum({{ name }})) as {{ name }}
    {%- endif -%}
    {{ ',\n        ' if not loop.last }}
  {%- endfor -%}
{% endmacro %}

{#- user_daily's aggregate of a per-user column over its stacked sides: counts add, flags OR. -#}
{% macro metric_user_aggregate(name) %}
  {%- set m = metric_definitions()[name] -%}
  {%- if m.type == 'users' -%}max({{ name }}){%- else -%}sum({{ name }}){%- endif -%}
{% endmacro %}

{#- The zero of a per-user column on the other source's side of user_daily's stack. -#}
{% macro metric_user_zero(name) %}
  {%- set m = metric_definitions()[name] -%}
  {%- if m.type == 'users' -%}toUInt8(0){%- else -%}toUInt64(0){%- endif -%}
{% endmacro %}

{#- A count or users metric per day and slice over user_daily rows (the aggregate of a group). -#}
{% macro metric_daily_value(name) %}
  {%- set m = metric_definitions()[name] -%}
  {%- if m.type == 'users' and m.get('where') is not none -%}
    toFloat64(countIf({{ m.where }}))
  {%- elif m.type == 'users' -%}
    toFloat64(countIf({{ name }} > 0))
  {%- else -%}
    toFloat64(sum({{ name }}))
  {%- endif -%}
{% endmacro %}

{#- The metrics of metrics_15min: realtime ones (count / users with a source, ratios of those). -#}
{% macro metric_realtime_metrics() %}
  {%- set metrics = metric_definitions() -%}
  {%- set names = [] -%}
  {%- for name, m in metrics.items() if m.get('realtime') -%}
    {%- set parts = [m.numerator, m.denominator] if m.type == 'ratio' else [name] -%}
    {%- for part in parts -%}
      {%- set p = metrics[part] -%}
      {%- if p.get('where') is not none or p.get('distinct') is not none -%}
        {{ exceptions.raise_compiler_error("var metrics: metric '" ~ name ~ "' is realtime but '" ~ part ~ "' is counted per user and day (`where` or `distinct`): it has no 15-minute form") }}
      {%- endif -%}
    {%- endfor -%}
    {%- do names.append(name) -%}
  {%- endfor -%}
  {{ return(names) }}
{% endmacro %}

{#- The 15-minute aggregates of one source's event metrics (realtime ones and the parts of realtime ratios). -#}
{% macro metric_bucket_columns(source) %}
  {%- set metrics = metric_definitions() -%}
  {%- for name in metric_bucket_parts(source) -%}
    {%- set m = metrics[name] -%}
    {%- set condition = '(' ~ m.get('filter') ~ ')' -%}
    {%- if m.type == 'users' and m.get('filter') is none -%}
      uniqExact(user_id) as {{ name }}
    {%- elif m.type == 'users' -%}
      uniqExactIf(user_id, {{ condition }}) as {{ name }}
    {%- elif m.get('filter') is none -%}
      count() as {{ name }}
    {%- else -%}
      countIf({{ condition }}) as {{ name }}
    {%- endif -%}
    {{ ',\n           ' if not loop.last }}
  {%- endfor -%}
{% endmacro %}

{#- The count / users metrics metrics_15min needs from one source (realtime ones, parts of realtime ratios). -#}
{% macro metric_bucket_parts(source) %}
  {%- set metrics = metric_definitions() -%}
  {%- set needed = [] -%}
  {%- for name in metric_realtime_metrics() -%}
    {%- set m = metrics[name] -%}
    {%- for part in ([m.numerator, m.denominator] if m.type == 'ratio' else [name]) -%}
      {%- if metrics[part].source == source and part not in needed -%}{%- do needed.append(part) -%}{%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(needed) }}
{% endmacro %}
