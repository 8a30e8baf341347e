{#
  The table engine of a model: plain MergeTree family on one server; on the `cluster` target
  (FEEDPULSE_DBT_TARGET=cluster) the Replicated variant, with the usual {shard}/{replica} macros
  of the cluster's configuration. Extra engine arguments (e.g. a version column) follow.
#}
{% macro table_engine(family='MergeTree', args='') %}
  {%- if target.name == 'cluster' -%}
    Replicated{{ family }}('/clickhouse/tables/{shard}/{database}/{table}', '{replica}'{{ ', ' ~ args if args }})
  {%- else -%}
    {{ family }}({{ args }})
  {%- endif -%}
{% endmacro %}
