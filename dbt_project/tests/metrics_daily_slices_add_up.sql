-- Every user has one value per dimension each day, so a count or users metric's slice values add up
-- to its total, for every dimension it allows (ratios are checked through their parts). Returns the
-- (day, metric, dimension) whose slices do not.
{%- set counted = [] %}
{%- for name, m in metric_definitions().items() if m.type != 'ratio' %}
  {%- do counted.append("'" ~ name ~ "'") %}
{%- endfor %}
with counts as (
    select event_date, metric, dimension, value
    from {{ ref('metrics_daily') }}
    where {{ in_window('event_date') }} and metric in ({{ counted | join(', ') }})
),

totals as (
    select event_date, metric, value as total
    from counts
    where dimension = 'total'
),

slice_sums as (
    select event_date, metric, dimension, sum(value) as slices_sum
    from counts
    where dimension != 'total'
    group by event_date, metric, dimension
)

select s.event_date, s.metric, s.dimension, s.slices_sum, t.total
from slice_sums as s
inner join totals as t on t.event_date = s.event_date and t.metric = s.metric
where s.slices_sum != t.total
