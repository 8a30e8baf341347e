{#
  Age buckets from var age_buckets (dbt_project.yml), e.g. '0-17,18-24,25-34,35-44,45-54,55+'; 'raw'
  keeps the age. Ages outside every bucket (or unknown) become 'unknown'. feedpulse.metrics.age_bucket_sql
  writes the same expression for Python's readers of the raw events.
#}
{% macro age_bucket(column) %}
  {%- set spec = var('age_buckets') | string -%}
  {%- if spec | trim == 'raw' -%}
    ifNull(toString({{ column }}), 'unknown')
  {%- else -%}
    {%- set branches = [] -%}
    {%- for part in spec.split(',') -%}
      {%- set label = part | trim -%}
      {%- set closed = modules.re.match('^(\d+)-(\d+)$', label) -%}
      {%- set open = modules.re.match('^(\d+)\+$', label) -%}
      {%- if closed -%}
        {%- if (closed.group(1) | int) > (closed.group(2) | int) -%}
          {{ exceptions.raise_compiler_error("var age_buckets: bucket '" ~ label ~ "' has its bounds reversed") }}
        {%- endif -%}
        {%- do branches.append(column ~ ' between ' ~ closed.group(1) ~ ' and ' ~ closed.group(2) ~ ", '" ~ label ~ "'") -%}
      {%- elif open -%}
        {%- do branches.append(column ~ ' >= ' ~ open.group(1) ~ ", '" ~ label ~ "'") -%}
      {%- else -%}
        {{ exceptions.raise_compiler_error("var age_buckets: '" ~ label ~ "' is not a bucket like 18-24 or 55+ (spec: '" ~ spec ~ "')") }}
      {%- endif -%}
    {%- endfor -%}
    ifNull(multiIf(isNull({{ column }}), 'unknown', {{ branches | join(', ') }}, 'unknown'), 'unknown')
  {%- endif -%}
{% endmacro %}

{# Gender as stored ('0', '1') unless var gender_labels maps codes to labels, e.g. {'0': 'female'}. #}
{% macro gender_label(column) %}
  {%- set labels = var('gender_labels', {}) -%}
  {%- if labels -%}
    {%- set branches = [] -%}
    {%- for code, label in labels.items() -%}
      {%- do branches.append(column ~ ' = ' ~ (code | int) ~ ", '" ~ (label | replace("'", "\\'")) ~ "'") -%}
    {%- endfor -%}
    ifNull(multiIf(isNull({{ column }}), 'unknown', {{ branches | join(', ') }}, toString({{ column }})), 'unknown')
  {%- else -%}
    ifNull(toString({{ column }}), 'unknown')
  {%- endif -%}
{% endmacro %}

{#
  The alert slices of metrics_15min: var alert_slices (comma-separated dimensions, default
  'total,os'; the alerts config's `slices`), each a label expression over a staging event —
  'total', 'os:iOS', 'source:ads', 'gender:1', 'age:18-24', 'exp_group:2'. The labels are the ones
  feedpulse.alerts.series.SLICE_EXPRESSIONS reads the raw tables with (tests/test_metrics_15min.py
  checks they agree).
#}
{% macro alert_slice_labels() %}
  {%- set expressions = {
      'total': "'total'",
      'os': "concat('os:', os)",
      'source': "concat('source:', source)",
      'gender': "concat('gender:', toString(gender))",
      'age': "concat('age:', " ~ age_bucket('age') ~ ")",
      'exp_group': "concat('exp_group:', toString(exp_group))",
  } -%}
  {%- set wanted = [] -%}
  {%- for part in (var('alert_slices', 'total,os') | string).split(',') -%}
    {%- set name = part | trim -%}
    {%- if name not in expressions -%}
      {{ exceptions.raise_compiler_error("var alert_slices: unknown dimension '" ~ name ~ "' (known: " ~ (expressions.keys() | sort | join(', ')) ~ ")") }}
    {%- endif -%}
    {%- if name not in wanted -%}{%- do wanted.append(name) -%}{%- endif -%}
  {%- endfor -%}
  [{%- for name in wanted -%}{{ expressions[name] }}{{ ', ' if not loop.last }}{%- endfor -%}]
{% endmacro %}
