{{ config(
    schema='test',
    order_by='(event_date, dimension, dimension_value)'
) }}

-- The final table of the original task: the os, gender and age slices, one day per partition.
with slices as (
    {% for slice in ['slice_os', 'slice_gender', 'slice_age'] %}
    select event_date, dimension, dimension_value, views, likes,
           messages_received, messages_sent, users_received, users_sent
    from {{ ref(slice) }}
    where {{ in_window('event_date') }}
    {{ "union all" if not loop.last }}
    {% endfor %}
)

select
    toDate(event_date) as event_date,
    toString(dimension) as dimension,
    toString(dimension_value) as dimension_value,
    toUInt64(views) as views,
    toUInt64(likes) as likes,
    toUInt64(messages_received) as messages_received,
    toUInt64(messages_sent) as messages_sent,
    toUInt64(users_received) as users_received,
    toUInt64(users_sent) as users_sent
from slices
