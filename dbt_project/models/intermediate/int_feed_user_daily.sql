{{ config(
    order_by='(event_date, user_id)'
) }}

-- Per user and day: the feed's event metrics (views, likes, ...: var metrics, compiled by
-- macros/metrics.sql), with the user's attributes at their last feed action of the day (as the
-- original extract's GROUP BY user_id, gender, age, os) and the times of the first and last action.
-- int_user_day_attributes is built from these per-user rows, so the day's feed events (the biggest
-- table) are scanned once per run.
with feed_actions_of_window as (
    -- every column: a metric's filter may read any of them (unread ones are not scanned)
    select *
    from {{ ref('stg_feed_actions') }}
    where {{ time_in_window('time') }}
),

feed_users_of_window as (
    select
        event_date,
        user_id,
        {{ metric_event_columns('feed') }},
        min(time) as first_action_at,
        max(time) as last_action_at,
        -- One latest value per column (a tuple of all attributes copies every string of every newer
        -- row). Among actions in the same second each attribute takes its greatest value (the tie-break
        -- of macros/attribute_history.sql), whatever order rows are read in: macros/latest_value.sql.
        {{ latest_value('gender', 'time', 'int') }} as gender,
        {{ latest_value('age', 'time', 'int') }} as age,
        toLowCardinality({{ latest_value('country', 'time') }}) as country,
        toLowCardinality({{ latest_value('city', 'time') }}) as city,
        toLowCardinality({{ latest_value('os', 'time') }}) as os,
        toLowCardinality({{ latest_value('source', 'time') }}) as source,
        {{ latest_value('exp_group', 'time', 'int') }} as exp_group
    from feed_actions_of_window
    group by event_date, user_id
)

select
    event_date,
    user_id,
    {{ metric_event_metrics('feed') | join(', ') }},
    first_action_at,
    last_action_at,
    gender,
    age,
    country,
    city,
    os,
    source,
    exp_group
from feed_users_of_window
