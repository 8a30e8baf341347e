{# In ClickHouse the dbt schema is the database: a model's `schema` config names it exactly
   (e.g. the final table lives in `test`), others go to the target's database. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
