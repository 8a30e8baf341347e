{#
  The one identifier policy (feedpulse/identifiers.py; a test keeps the pattern equal): a name that
  reaches SQL as an identifier (a database, a table) is ASCII letters, digits and _, not starting
  with a digit, at most 64 characters. Anything else fails compilation — before any SQL runs —
  naming the setting and the value. dbt-clickhouse quotes names in backticks without escaping
  them, so a value with a backtick would otherwise end the quoting and inject SQL.
#}
{% macro identifier_pattern() %}{{ return('[A-Za-z_][A-Za-z0-9_]{0,63}') }}{% endmacro %}

{% macro checked_identifier(value, what) %}
  {%- if value is not string or not modules.re.fullmatch(identifier_pattern(), value) -%}
    {{ exceptions.raise_compiler_error(
        what ~ " must be a plain identifier (ASCII letters, digits and _, not starting with a digit, "
        ~ "at most 64 characters), got " ~ (value | string | tojson)) }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{# source() with the source's database (var source_database / FEEDPULSE_SOURCE_DATABASE) and table
   checked: every read of the raw tables goes through here, so a hostile value stops compilation. #}
{% macro source(source_name, table_name) %}
  {#- outside dbt (sqlfluff's jinja templater) there is no builtins: a plain name to lint -#}
  {%- if builtins is not defined -%}{{ return(source_name ~ '.' ~ table_name) }}{%- endif -%}
  {%- set relation = builtins.source(source_name, table_name) -%}
  {%- if execute -%}
    {%- do checked_identifier(relation.schema, "source_database (var source_database or FEEDPULSE_SOURCE_DATABASE)") -%}
    {%- do checked_identifier(relation.identifier, "source table name") -%}
  {%- endif -%}
  {{ return(relation) }}
{% endmacro %}
