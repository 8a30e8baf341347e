{{ config(order_by='(event_date, dimension_value)') }}

-- Metrics of the day by os (users whose os is unknown, e.g. receive-only, under 'unknown').
{{ slice_metrics('os', "ifNull(os, 'unknown')") }}
