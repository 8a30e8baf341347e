{#
  Day replacement without an empty moment, and no debris from killed runs (issue 12).

  dbt-clickhouse's insert_overwrite builds the new rows into `<table>__dbt_new_data_<invocation>`
  and then REPLACE PARTITIONs the target from it. This project used to drop the window's days in a
  pre-hook first (so a day whose new data is empty is emptied too) — but the drop came before the
  new data existed, so a report, an alert or another run's test reading that day in between saw it
  missing. This override (same name as the adapter's macro, so the root project's wins) replaces
  the partitions present in the new data and, in the same ALTER, drops only the window's days the
  new data does not contain. Each REPLACE PARTITION is atomic: a reader sees a day's old rows or
  its new rows, never none.
#}
{% macro clickhouse__incremental_insert_overwrite(existing_relation, partition_by, is_distributed=False) %}
    {% set new_data_relation = existing_relation.incorporate(path={"identifier": existing_relation.identifier
       + '__dbt_new_data_' + invocation_id.replace('-', '_')}) %}
    {{ drop_relation_if_exists(new_data_relation) }}
    {%- set distributed_new_data_relation = existing_relation.incorporate(path={"identifier": existing_relation.identifier + '__dbt_distributed_new_data'}) -%}

    {%- set local_suffix = adapter.get_clickhouse_local_suffix() -%}
    {%- set local_db_prefix = adapter.get_clickhouse_local_db_prefix() -%}
    {% set existing_local = existing_relation.incorporate(path={"identifier": this.identifier + local_suffix, "schema": local_db_prefix + this.schema}) if existing_relation is not none else none %}

    {% if is_distributed %}
        {{ create_distributed_local_table(distributed_new_data_relation, new_data_relation, existing_relation, sql) }}
    {% else %}
        {% call statement('main') %}
            {{ get_create_table_as_sql(False, new_data_relation, sql) }}
        {% endcall %}
    {% endif %}

    {% if execute %}
      {% set select_changed_partitions %}
          SELECT DISTINCT partition_id
          {% if is_distributed %}
            FROM cluster({{ adapter.get_clickhouse_cluster_name() }}, system.parts)
          {% else %}
            FROM system.parts
          {% endif %}
          WHERE active
            AND database = '{{ new_data_relation.schema }}'
            AND table = '{{ new_data_relation.identifier }}'
      {% endset %}
      {% set changed_partitions = [] %}
      {% for row in run_query(select_changed_partitions).rows %}{% do changed_partitions.append(row[0]) %}{% endfor %}
    {% else %}
      {% set changed_partitions = [] %}
    {% endif %}
    {% set emptied_days = window_days_without_new_data(partition_by, changed_partitions) %}

    {% if changed_partitions or emptied_days %}
        {% call statement('replace_partitions') %}
            {% if is_distributed %}
                alter table {{ existing_local }} {{ on_cluster_clause(existing_relation) }}
            {% else %}
                alter table {{ existing_relation }}
            {% endif %}
            {%- for partition in changed_partitions %}
                replace partition id '{{ partition }}' from {{ new_data_relation }}{{ ', ' if not loop.last or emptied_days }}
            {%- endfor %}
            {%- for day in emptied_days %}
                drop partition id '{{ day.replace('-', '') }}'{{ ', ' if not loop.last }}
            {%- endfor %}
            {%- if changed_partitions and adapter.is_at_or_after_version('26.6') %}
                settings allow_replace_partition_from_empty_source = 1
            {%- endif %}
      {% endcall %}
    {% endif %}

    {% do adapter.drop_relation(distributed_new_data_relation) %}
    {% do adapter.drop_relation(new_data_relation) %}
{% endmacro %}

{# The run's window days (YYYY-MM-DD) that the new data has no partition for, on a model
   partitioned by day (event_date, or toDate(bucket) for metrics_15min; partition id YYYYMMDD):
   those days became empty. #}
{% macro window_days_without_new_data(partition_by, changed_partitions) %}
  {%- if partition_by not in ['event_date', 'toDate(bucket)'] -%}{{ return([]) }}{%- endif -%}
  {%- set emptied = [] -%}
  {%- for day in window_dates() -%}
    {%- if day.replace('-', '') not in changed_partitions -%}{%- do emptied.append(day) -%}{%- endif -%}
  {%- endfor -%}
  {{ return(emptied) }}
{% endmacro %}
