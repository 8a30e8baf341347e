select event_day, user_id, count() as copies
from {{ ref('daily_amounts') }}
group by event_day, user_id
having copies > 1
