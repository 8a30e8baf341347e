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
{%- set metrics = metric_definitions() %}
{%- set feed_parts = metric_bucket_parts('feed') %}
{%- set message_parts = metric_bucket_parts('messages') %}
-- Columns: the realtime metrics of var metrics (macros/metrics.sql), each with its own 15-minute
-- aggregate (a users metric: distinct users in the bucket), and the counts their ratios need.
with feed as (
    select toStartOfFifteenMinutes(time) as bucket, slice,
           {{ metric_bucket_columns('feed') }}
    from {{ source('app', 'feed_actions') }}
    array join {{ alert_slice_labels() }} as slice
    where {{ time_in_window('time') }} and {{ valid_feed_action() }}
    group by bucket, slice
),

messenger as (
    select toStartOfFifteenMinutes(time) as bucket, slice,
           {{ metric_bucket_columns('messages') }}
    from {{ source('app', 'message_actions') }}
    array join {{ alert_slice_labels() }} as slice
    where {{ time_in_window('time') }} and {{ valid_message_action() }}
    group by bucket, slice
)

select
    bucket,
    toLowCardinality(slice) as slice,
    {%- for name in feed_parts + message_parts %}
    toUInt64({{ name }}) as {{ name }},
    {%- endfor %}
    {%- for name in metric_realtime_metrics() if metrics[name].type == 'ratio' %}
    {%- set m = metrics[name] %}
    toFloat64(if({{ m.denominator }} = 0, 0, {{ m.numerator }} / {{ m.denominator }})) as {{ name }},
    {%- endfor %}
    now64(3) as computed_at
from feed
full outer join messenger using (bucket, slice)
