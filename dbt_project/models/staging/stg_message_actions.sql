-- Messages with the source's `reciever_id` renamed and bad rows left out (counted in stg_rejected_events).
-- String columns pass through as stored: converting ~10M rows a day to LowCardinality here cost more
-- than the aggregations reading them; the per-user tables store them as LowCardinality.
with message_actions as (
    select user_id, reciever_id, time, gender, age, country, city, os, source, exp_group
    from {{ source('app', 'message_actions') }}
)

select
    toUInt32(user_id) as user_id,
    toUInt32(reciever_id) as receiver_id,
    time,
    toDate(time) as event_date,
    toInt8(gender) as gender,
    toInt16(age) as age,
    country,
    city,
    os,
    source,
    toInt8(exp_group) as exp_group
from message_actions
where {{ valid_message_action() }}
