{#
  on-run-start: drop the temporary relations that killed runs left behind (issue 12) — e.g.
  `test.daily_slice_metrics__dbt_new_data_<invocation>`, a full copy of a window's rows that no
  later run would remove. Safely: only names dbt-clickhouse gives its temporary relations
  (`<model>__dbt_new_data[_<invocation>]`, `__dbt_tmp`, `__dbt_backup`, `__dbt_distributed_new_data`)
  of this project's models, in the models' databases, untouched for var stale_temp_relation_hours
  (default 6; a statement times out after 1 h, so a live run's tables are younger), and not named
  by a query running now (a concurrent run's).
#}
{% macro drop_stale_temp_relations() %}
  {%- if execute -%}
    {%- set hours = var('stale_temp_relation_hours', 6) -%}
    {%- if hours is string and not modules.re.fullmatch('[0-9]+(\.[0-9]+)?', hours) or hours is not number and hours is not string -%}
      {{ exceptions.raise_compiler_error("var stale_temp_relation_hours must be a number of hours, got " ~ (hours | string | tojson)) }}
    {%- endif -%}
    {%- set identifiers = [] -%}
    {%- set databases = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type in ['model', 'seed', 'snapshot'] -%}
      {%- do identifiers.append(checked_identifier(node.alias or node.name, 'model name')) -%}
      {%- if node.schema not in databases -%}{%- do databases.append(checked_identifier(node.schema, 'model database')) -%}{%- endif -%}
    {%- endfor -%}
    {%- if identifiers -%}
      {%- set query -%}
        select database, name from system.tables
        where database in ({% for d in databases %}'{{ d }}'{{ ", " if not loop.last }}{% endfor %})
          and match(name, '^({{ identifiers | join("|") }})__dbt_(new_data(_[0-9a-f_]+)?|tmp|backup|distributed_new_data)$')
          and metadata_modification_time < now() - toIntervalSecond({{ (hours | float * 3600) | int }})
          and name not in (
              select arrayJoin(extractAll(query, '[A-Za-z0-9_]+__dbt_[A-Za-z0-9_]+')) from system.processes
          )
        order by database, name
      {%- endset -%}
      {%- for row in run_query(query).rows -%}
        {#- the query's match() allows only [A-Za-z0-9_] (temporary names can exceed 64 characters) -#}
        {%- if not modules.re.fullmatch('[A-Za-z0-9_]+', row[1]) -%}
          {{ exceptions.raise_compiler_error("unexpected temporary relation name " ~ (row[1] | tojson)) }}
        {%- endif -%}
        {%- set relation = api.Relation.create(database=none, schema=checked_identifier(row[0], 'database'),
                                               identifier=row[1], type='table') -%}
        {{ log("dropping " ~ relation ~ ", a temporary relation left by an interrupted run", info=true) }}
        {%- do adapter.drop_relation(relation) -%}
      {%- endfor -%}
    {%- endif -%}
  {%- endif -%}
  select 1
{% endmacro %}
