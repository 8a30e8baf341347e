{{ config(materialized='view') }}

-- dim_user_attributes merged: one row per user, first_seen and the attributes of the latest event processed
-- so far — the current state, not a day's (user_daily applies the point-in-time rule).
with user_rows as (
    select user_id, first_seen, latest
    from {{ ref('dim_user_attributes') }}
    where user_id != 0
),

merged as (
    select user_id, min(first_seen) as first_seen, max(latest) as latest
    from user_rows
    group by user_id
)

select
    user_id,
    first_seen,
    tupleElement(latest, 1) as last_seen,
    tupleElement(latest, 2) as gender,
    tupleElement(latest, 3) as age,
    tupleElement(latest, 4) as country,
    tupleElement(latest, 5) as city,
    tupleElement(latest, 6) as os,
    tupleElement(latest, 7) as source,
    tupleElement(latest, 8) as exp_group
from merged
