{#
  What makes a raw event usable. Staging keeps rows where the reason is '' and
  stg_rejected_events counts the others per day, table and reason.
#}
{% macro feed_action_rejection() %}
  multiIf(
    user_id = 0, 'user_id is 0',
    action not in ('view', 'like'), 'unknown action',
    isNull(os) or os not in ('iOS', 'Android'), 'unknown os',
    isNull(age) or age < 0 or age > 120, 'age outside 0-120',
    ''
  )
{% endmacro %}

{% macro message_action_rejection() %}
  multiIf(
    user_id = 0, 'user_id is 0',
    reciever_id = 0, 'reciever_id is 0',
    isNull(os) or os not in ('iOS', 'Android'), 'unknown os',
    isNull(age) or age < 0 or age > 120, 'age outside 0-120',
    ''
  )
{% endmacro %}

{% macro valid_feed_action() %}({{ feed_action_rejection() }}) = ''{% endmacro %}
{% macro valid_message_action() %}({{ message_action_rejection() }}) = ''{% endmacro %}
