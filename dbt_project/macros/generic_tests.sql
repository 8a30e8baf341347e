{# Generic tests of the project. They live here, not in packages.yml: the dbt hub (dbt_utils,
   dbt_expectations) is out of reach offline, so the few tests in their spirit are written out. #}

{# Rows of the run's window (when the model has event_date) where `expression` is false — dbt_utils'
   expression_is_true. Used for the identities a table must keep (a sum of parts equals its total). #}
{% test expression_is_true(model, expression, windowed=true, column_name=none) %}
select * from {{ model }}
where not ({{ expression }})
{% if windowed %}and {{ in_window('event_date') }}{% endif %}
{% endtest %}

{% test between(model, column_name, min_value, max_value) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}

{# No two rows share the values of `columns` (restricted to the run's window when it has event_date). #}
{% test unique_combination(model, columns, windowed=true) %}
select {{ columns | join(', ') }}, count() as copies
from {{ model }}
{% if windowed %}where {{ in_window('event_date') }}{% endif %}
group by {{ columns | join(', ') }}
having copies > 1
{% endtest %}

{# Each listed column is <= the reference column on every row (e.g. likes <= views is NOT
   guaranteed, but users_sent <= messages_sent is). #}
{% test not_greater_than(model, column_name, other) %}
select {{ column_name }}, {{ other }} from {{ model }} where {{ column_name }} > {{ other }}
{% endtest %}

{# Warns with the count of raw rows staging left out in the run's window. #}
{% test no_rejected_events(model) %}
{{ config(severity='warn') }}
select event_date, source_table, reason, rejected_rows
from {{ model }}
where {{ in_window('event_date') }} and rejected_rows > 0
{% endtest %}
