{#
  Body of a slice model: the window's user_daily rows summed by one dimension, whose value is
  `value_sql` (e.g. an age bucket expression); each row sums its users' values.
#}
{% macro slice_metrics(dimension, value_sql) %}
with users_of_window as (
    select event_date, {{ dimension }}, views, likes, messages_received, messages_sent, users_received, users_sent
    from {{ ref('user_daily') }}
    where {{ in_window('event_date') }}
)

select
    event_date,
    '{{ dimension }}' as dimension,
    {{ value_sql }} as dimension_value,
    toUInt64(sum(views)) as views,
    toUInt64(sum(likes)) as likes,
    toUInt64(sum(messages_received)) as messages_received,
    toUInt64(sum(messages_sent)) as messages_sent,
    toUInt64(sum(users_received)) as users_received,
    toUInt64(sum(users_sent)) as users_sent
from users_of_window
group by event_date, dimension_value
{% endmacro %}
