{{ config(materialized='view') }}

-- dim_users merged: one row per user, first_seen and the attributes of the latest event.
with user_rows as (
    select user_id, first_seen, latest
    from {{ ref('dim_users') }}
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
