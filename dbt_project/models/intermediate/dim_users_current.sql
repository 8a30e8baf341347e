{{ config(materialized='view') }}

-- dim_users with its aggregate states merged: one row per user, latest known attributes.
with user_states as (
    select user_id, first_seen, last_seen, gender, age, country, city, os, source, exp_group
    from {{ ref('dim_users') }}
)

select
    user_id,
    min(first_seen) as first_seen,
    max(last_seen) as last_seen,
    argMaxMerge(gender) as gender,
    argMaxMerge(age) as age,
    argMaxMerge(country) as country,
    argMaxMerge(city) as city,
    argMaxMerge(os) as os,
    argMaxMerge(source) as source,
    argMaxMerge(exp_group) as exp_group
from user_states
group by user_id
