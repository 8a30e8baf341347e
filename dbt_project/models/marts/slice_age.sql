{{ config(order_by='(event_date, dimension_value)') }}

-- Metrics of the day by age (users whose age is unknown, e.g. receive-only, under 'unknown').
{{ slice_metrics('age', age_bucket('age')) }}
