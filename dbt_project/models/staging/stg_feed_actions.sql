-- Feed events with types settled and bad rows left out (counted in stg_rejected_events).
-- String columns pass through as stored: converting ~10M rows a day to LowCardinality here cost more
-- than the aggregations reading them; the per-user tables store them as LowCardinality.
with feed_actions as (
    select user_id, post_id, action, time, gender, age, country, city, os, source, exp_group
    from {{ source('app', 'feed_actions') }}
)

select
    toUInt32(user_id) as user_id,
    toUInt32(post_id) as post_id,
    action,
    time,
    toDate(time) as event_date,
    toInt8(gender) as gender,
    toInt16(age) as age,
    country,
    city,
    os,
    source,
    toInt8(exp_group) as exp_group
from feed_actions
where {{ valid_feed_action() }}
