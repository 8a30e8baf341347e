{{ config(order_by='(event_date, dimension_value)') }}

-- Metrics of the day by gender (users whose gender is unknown, e.g. receive-only, under 'unknown').
{{ slice_metrics('gender', gender_label('gender')) }}
