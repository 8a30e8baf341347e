{# latest_value(value, time, kind): argMax(value, (time, value)) — the value at the latest time and, among
   rows of the same second, the greatest value (the tie-break that makes a day's attributes independent of
   the order rows are read in) — without a Tuple key. ClickHouse aggregates argMax over a Tuple through its
   generic Field path: on the 9.3 M feed events of a scale-10 day that took 13–21 s against 1 s for a plain
   key (bench/etl.py, 2026-11-30). These keys sort exactly as (time, value):
   - kind 'string': the 8 hex digits of the UInt32 time, then the value's bytes (Strings compare bytewise,
     the shorter prefix first, as inside the tuple);
   - kind 'int' (values in Int16's range): time × 65536 + value + 32768.
   time must be a DateTime (seconds). #}
{% macro latest_value(value, time, kind='string') -%}
  {%- if kind == 'string' -%}
    argMax({{ value }}, concat(leftPad(hex(toUInt32({{ time }})), 8, '0'), {{ value }}))
  {%- elif kind == 'int' -%}
    argMax({{ value }}, toInt64(toUInt32({{ time }})) * 65536 + toInt64({{ value }}) + 32768)
  {%- else -%}
    {{ exceptions.raise_compiler_error("latest_value: kind must be 'string' or 'int', got " ~ kind) }}
  {%- endif -%}
{%- endmacro %}
