{{ config(
    engine=table_engine('ReplacingMergeTree', 'computed_at'),
    partition_by='toDate(bucket)',
    order_by='(slice, bucket)'
) }}

-- The alert metrics per 15-minute bucket and slice (var alert_slices), from the raw events with
-- staging's validity rule (macros/event_validity.sql: bad rows left out exactly as in the daily
-- ETL, so a day's buckets sum to its daily marts). Read from the sources, not the staging views, so
-- a refresh needs no earlier ETL run and follows the run's source_database. Slices
-- take each event's own attributes (a bucket is judged on who acted in it). Refreshed by the
-- metrics_15min asset (the anomaly sensor requests it when the newest complete bucket is not in
-- yet): the run's window is the days to recompute, each replaced whole and atomically
-- (macros/partition_replace.sql). computed_at = when the refresh ran: the sensor evaluates a bucket
-- only from a refresh that started after the bucket was complete.
with feed as (
    select toStartOfFifteenMinutes(time) as bucket, slice,
           uniqExact(user_id) as feed_users,
           countIf(action = 'view') as views,
           countIf(action = 'like') as likes
    from {{ source('app', 'feed_actions') }}
    array join {{ alert_slice_labels() }} as slice
    where {{ time_in_window('time') }} and {{ valid_feed_action() }}
    group by bucket, slice
),

messenger as (
    select toStartOfFifteenMinutes(time) as bucket, slice,
           uniqExact(user_id) as messenger_users,
           count() as messages
    from {{ source('app', 'message_actions') }}
    array join {{ alert_slice_labels() }} as slice
    where {{ time_in_window('time') }} and {{ valid_message_action() }}
    group by bucket, slice
)

select
    bucket,
    toLowCardinality(slice) as slice,
    toUInt64(feed_users) as feed_users,
    toUInt64(views) as views,
    toUInt64(likes) as likes,
    toFloat64(if(views = 0, 0, likes / views)) as ctr,
    toUInt64(messenger_users) as messenger_users,
    toUInt64(messages) as messages,
    now64(3) as computed_at
from feed
full outer join messenger using (bucket, slice)
