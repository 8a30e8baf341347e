"""A day's slice rows depend only on the source data up to that day (issue 13).

User attributes "as of D" are those of the user's latest own event (feed action or sent message)
up to the end of D; among events in the same second each attribute takes its greatest value; no
own event up to D ⇒ `unknown`. Checked three ways on simulated data with a few hand-made users:
(1) a day gives identical rows run alone, after later days and inside a backfill; (2) the rows
equal an independent point-in-time SQL written here (not the project's macros) on several days,
including the first day of the data and the days around a user's os change; (3) a fresh install
that runs only the last day equals a full-history backfill. The same for the cohort and weekly
lifecycle marts (retention_daily, audience_lifecycle) and DAU/WAU/MAU (active_users_daily), whose
independent SQL is written here too, and for the metric layer's metrics_daily (order independence).

Dates are fixed (no clock); dbt is run directly (the Dagster wiring is covered by test_daily_etl).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.dbt]

SOURCE_DB = "pit_sim"
FIRST_DAY = dt.date(2026, 10, 1)
DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range(8)]

# Hand-made users (ids far above the simulator's).
# SWITCHER receives on day 0, views on iOS on day 1, receives on day 2, views on Android on day 3, receives on 4
SWITCHER = 4_000_000_001
TIE = 4_000_000_002  # two views in the same second on day 1 (Android, age 30 / iOS, age 20), receives on day 2
LATE_SENDER = 4_000_000_003  # receives on days 0-2, sends a message (on iOS) only on day 5: unknown before
HAND_MADE = (SWITCHER, TIE, LATE_SENDER)
COLUMNS = [
    "event_date",
    "dimension",
    "dimension_value",
    "views",
    "likes",
    "messages_received",
    "messages_sent",
    "users_received",
    "users_sent",
]


def at(day: int, clock: str) -> str:
    return f"{DAYS[day]} {clock}"


@pytest.fixture(scope="module")
def source(ch_client):
    from feedpulse.simulator import simulate

    simulate(ch_client, start=DAYS[0], days=len(DAYS), scale=0.02, seed=23, database=SOURCE_DB)
    sender = int(ch_client.command(f"SELECT min(user_id) FROM {SOURCE_DB}.message_actions"))
    feed = [
        (SWITCHER, "view", at(1, "09:00:00"), 1, 33, "iOS"),
        (SWITCHER, "like", at(1, "09:00:05"), 1, 33, "iOS"),
        (SWITCHER, "view", at(3, "18:00:00"), 1, 34, "Android"),
        (TIE, "view", at(1, "12:00:00"), 0, 30, "Android"),
        (TIE, "view", at(1, "12:00:00"), 0, 20, "iOS"),
    ]
    ch_client.insert(
        f"{SOURCE_DB}.feed_actions",
        [
            [u, 7, action, dt.datetime.fromisoformat(t), g, a, "Russia", "Omsk", os, "ads", 1]
            for u, action, t, g, a, os in feed
        ],
        column_names=[
            "user_id",
            "post_id",
            "action",
            "time",
            "gender",
            "age",
            "country",
            "city",
            "os",
            "source",
            "exp_group",
        ],
    )
    messages = [
        (sender, SWITCHER, at(0, "10:00:00"), 0, 40, "Android"),
        (sender, SWITCHER, at(2, "10:00:00"), 0, 40, "Android"),
        (sender, SWITCHER, at(4, "10:00:00"), 0, 40, "Android"),
        (sender, TIE, at(2, "11:00:00"), 0, 40, "Android"),
        (sender, LATE_SENDER, at(0, "08:00:00"), 0, 40, "Android"),
        (sender, LATE_SENDER, at(2, "08:00:00"), 0, 40, "Android"),
        (LATE_SENDER, sender, at(5, "08:00:00"), 1, 60, "iOS"),
        (sender, LATE_SENDER, at(6, "08:00:00"), 0, 40, "Android"),
    ]
    ch_client.insert(
        f"{SOURCE_DB}.message_actions",
        [[u, r, dt.datetime.fromisoformat(t), "ads", 1, g, a, "Russia", "Omsk", os] for u, r, t, g, a, os in messages],
        column_names=[
            "user_id",
            "reciever_id",
            "time",
            "source",
            "exp_group",
            "gender",
            "age",
            "country",
            "city",
            "os",
        ],
    )
    return ch_client


@pytest.fixture(scope="module")
def dbt_run(source, dbt_cli):
    """`dbt run` of the project for the days [first, last]."""

    def run(first: dt.date, last: dt.date | None = None) -> None:
        end = (last or first) + dt.timedelta(days=1)
        dbt_cli({"start_date": first.isoformat(), "end_date": end.isoformat(), "source_database": SOURCE_DB})

    return run


def fresh_install(client) -> None:
    """Drop everything the ETL built (the source stays): the state of a new installation."""
    client.command("DROP DATABASE IF EXISTS analytics")
    client.command("DROP DATABASE IF EXISTS test")


@pytest.fixture(scope="module", autouse=True)
def clean_state(source):
    fresh_install(source)
    yield
    fresh_install(source)  # later modules start from an empty ETL too


def slice_rows(client, day: dt.date) -> pd.DataFrame:
    frame = client.query_df(
        f"SELECT {', '.join(COLUMNS)} FROM test.daily_slice_metrics WHERE event_date = {{d:Date}} "
        "ORDER BY dimension, dimension_value",
        parameters={"d": day},
    )
    frame["event_date"] = pd.to_datetime(frame["event_date"]).dt.date
    return frame.reset_index(drop=True)


# An independent definition of the table for one day, straight from the raw events: every valid own
# event up to the end of the day, per user and second the greatest value of each attribute, then the
# user's latest second. Written without the project's macros.
INDEPENDENT_SQL = f"""
WITH
    feed AS (
        SELECT user_id, action, time, os, gender, age FROM {SOURCE_DB}.feed_actions
        WHERE user_id != 0 AND action IN ('view', 'like') AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120
    ),
    messages AS (
        SELECT user_id, reciever_id, time, os, gender, age FROM {SOURCE_DB}.message_actions
        WHERE user_id != 0 AND reciever_id != 0 AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120
    ),
    own_up_to_day AS (
        SELECT user_id, time, os, gender, age FROM feed WHERE time < toDateTime({{d:Date}} + 1)
        UNION ALL
        SELECT user_id, time, os, gender, age FROM messages WHERE time < toDateTime({{d:Date}} + 1)
    ),
    per_second AS (
        SELECT user_id, time, max(os) AS os, max(gender) AS gender, max(age) AS age
        FROM own_up_to_day GROUP BY user_id, time
    ),
    as_of_day AS (
        SELECT user_id, argMax(os, time) AS os, argMax(gender, time) AS gender, argMax(age, time) AS age
        FROM per_second GROUP BY user_id
    ),
    activity AS (
        SELECT user_id, countIf(action = 'view') AS views, countIf(action = 'like') AS likes,
               0 AS received, 0 AS sent, 0 AS from_users, 0 AS to_users
        FROM feed WHERE toDate(time) = {{d:Date}} GROUP BY user_id
        UNION ALL
        SELECT user_id, 0, 0, 0, count(), 0, uniqExact(reciever_id)
        FROM messages WHERE toDate(time) = {{d:Date}} GROUP BY user_id
        UNION ALL
        SELECT reciever_id, 0, 0, count(), 0, uniqExact(user_id), 0
        FROM messages WHERE toDate(time) = {{d:Date}} GROUP BY reciever_id
    ),
    users AS (
        SELECT user_id, sum(views) AS views, sum(likes) AS likes, sum(received) AS received, sum(sent) AS sent,
               sum(from_users) AS from_users, sum(to_users) AS to_users
        FROM activity GROUP BY user_id
    ),
    labelled AS (
        SELECT u.*, if(a.user_id = 0, 'unknown', a.os) AS os_label,
               if(a.user_id = 0, 'unknown', toString(a.gender)) AS gender_label,
               multiIf(a.user_id = 0, 'unknown', a.age <= 17, '0-17', a.age <= 24, '18-24', a.age <= 34, '25-34',
                       a.age <= 44, '35-44', a.age <= 54, '45-54', '55+') AS age_label
        FROM users AS u LEFT JOIN as_of_day AS a ON a.user_id = u.user_id
    )
SELECT {{d:Date}} AS event_date, dimension, value AS dimension_value, sum(views) AS views, sum(likes) AS likes,
       sum(received) AS messages_received, sum(sent) AS messages_sent, sum(from_users) AS users_received,
       sum(to_users) AS users_sent
FROM labelled
ARRAY JOIN ['os', 'gender', 'age'] AS dimension, [os_label, gender_label, age_label] AS value
GROUP BY dimension, value
ORDER BY dimension, dimension_value
"""


def independent_rows(client, day: dt.date) -> pd.DataFrame:
    frame = client.query_df(INDEPENDENT_SQL, parameters={"d": day})
    frame["event_date"] = pd.to_datetime(frame["event_date"]).dt.date
    return frame[COLUMNS].reset_index(drop=True)


def user_attributes(client, user_id: int) -> dict[dt.date, tuple]:
    rows = client.query(
        "SELECT event_date, os, gender, age FROM analytics.user_daily WHERE user_id = {u:UInt32} ORDER BY event_date",
        parameters={"u": user_id},
    ).result_rows
    return {row[0]: tuple(row[1:]) for row in rows}


# Cohorts and the weekly lifecycle of a day, straight from the raw events (valid own events as above):
# a user's first day, the users active on the day by first day, and the seven days ending the day
# against the seven before them.
OWN_DAYS_SQL = f"""
WITH
    own AS (
        SELECT user_id, toDate(time) AS day FROM {SOURCE_DB}.feed_actions
        WHERE user_id != 0 AND action IN ('view', 'like') AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120
          AND time < toDateTime({{d:Date}} + 1)
        UNION ALL
        SELECT user_id, toDate(time) FROM {SOURCE_DB}.message_actions
        WHERE user_id != 0 AND reciever_id != 0 AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120
          AND time < toDateTime({{d:Date}} + 1)
    ),
    users AS (
        SELECT user_id, min(day) AS first_day, max(day = {{d:Date}}) AS today,
               max(day > {{d:Date}} - 7) AS in_week, max(day > {{d:Date}} - 14 AND day <= {{d:Date}} - 7) AS before,
               max(day > {{d:Date}} - 30) AS in_month
        FROM own GROUP BY user_id
    )
"""
INDEPENDENT_COHORTS_SQL = (
    OWN_DAYS_SQL
    + """
SELECT first_day AS cohort_date, toUInt64(count()) AS users FROM users WHERE today GROUP BY first_day ORDER BY first_day
"""
)
INDEPENDENT_LIFECYCLE_SQL = (
    OWN_DAYS_SQL
    + """
SELECT toUInt64(countIf(in_week AND first_day > {d:Date} - 7)) AS new_users,
       toUInt64(countIf(in_week AND before)) AS retained_users,
       toUInt64(countIf(in_week AND NOT before AND first_day <= {d:Date} - 7)) AS returning_users,
       toUInt64(countIf(NOT in_week AND before)) AS gone_users,
       toUInt64(countIf(in_week)) AS active_users,
       toUInt64(countIf(today)) AS dau, toUInt64(countIf(in_week)) AS wau, toUInt64(countIf(in_month)) AS mau
FROM users
"""
)
LIFECYCLE = ["new_users", "retained_users", "returning_users", "gone_users", "active_users"]
ACTIVE = ["dau", "wau", "mau"]  # active_users_daily


def cohort_rows(client, day: dt.date) -> list[tuple]:
    return client.query(
        "SELECT cohort_date, sum(users) FROM analytics.retention_daily WHERE event_date = {d:Date} "
        "GROUP BY cohort_date ORDER BY cohort_date",
        parameters={"d": day},
    ).result_rows


def lifecycle_row(client, day: dt.date) -> tuple:
    """audience_lifecycle's row of the day, then active_users_daily's DAU, WAU, MAU."""
    rows = client.query(
        f"SELECT {', '.join(LIFECYCLE)} FROM analytics.audience_lifecycle WHERE event_date = {{d:Date}}",
        parameters={"d": day},
    ).result_rows
    active = client.query(
        f"SELECT {', '.join(ACTIVE)} FROM analytics.active_users_daily WHERE event_date = {{d:Date}}",
        parameters={"d": day},
    ).result_rows
    return tuple(rows[0]) + tuple(active[0]) if rows and active else ()


def metric_rows(client, day: dt.date) -> list[tuple]:
    """The metric layer's table for the day (every metric by every slice)."""
    return client.query(
        "SELECT metric, dimension, dimension_value, value, numerator, denominator FROM analytics.metrics_daily "
        "WHERE event_date = {d:Date} ORDER BY metric, dimension, dimension_value",
        parameters={"d": day},
    ).result_rows


@pytest.fixture(scope="module")
def backfilled(source, dbt_run) -> dict[dt.date, pd.DataFrame]:
    """Every day's rows after one full-history backfill on a fresh install (and the new users)."""
    fresh_install(source)
    dbt_run(DAYS[0], DAYS[-1])
    rows = {day: slice_rows(source, day) for day in DAYS}
    new_users = dict(source.query("SELECT event_date, new_users FROM analytics.app_daily_metrics").result_rows)
    return {
        "rows": rows,
        "new_users": new_users,
        "attributes": {u: user_attributes(source, u) for u in HAND_MADE},
        "cohorts": {day: cohort_rows(source, day) for day in DAYS},
        "lifecycle": {day: lifecycle_row(source, day) for day in DAYS},
        "metrics": {day: metric_rows(source, day) for day in DAYS},
    }


def test_rows_equal_an_independent_point_in_time_computation(source, backfilled):
    for day in DAYS:  # the first day of the data, the os change (days 1-4), the late sender (0-6)
        pd.testing.assert_frame_equal(backfilled["rows"][day], independent_rows(source, day), check_dtype=False)

    # The hand-made users, day by day: os (and the rest) as of each day, unknown before any own event.
    switcher = backfilled["attributes"][SWITCHER]
    assert switcher[DAYS[0]] == (None, None, None)  # receives before ever acting
    assert switcher[DAYS[1]] == ("iOS", 1, 33)
    assert switcher[DAYS[2]] == ("iOS", 1, 33)  # receive-only: the state of day 1, not of day 3
    assert switcher[DAYS[3]] == ("Android", 1, 34)
    assert switcher[DAYS[4]] == ("Android", 1, 34)  # after the change
    tie = backfilled["attributes"][TIE]
    assert tie[DAYS[1]] == tie[DAYS[2]] == ("iOS", 0, 30)  # same second: each attribute's greatest value
    late = backfilled["attributes"][LATE_SENDER]
    assert late[DAYS[0]] == late[DAYS[2]] == (None, None, None)  # its first own event is on day 5
    assert late[DAYS[5]] == late[DAYS[6]] == ("iOS", 1, 60)


def test_cohorts_and_the_weekly_lifecycle_equal_an_independent_computation(source, backfilled):
    for day in DAYS:
        want = [tuple(r) for r in source.query(INDEPENDENT_COHORTS_SQL, parameters={"d": day}).result_rows]
        assert [tuple(r) for r in backfilled["cohorts"][day]] == want, day
        lifecycle = source.query(INDEPENDENT_LIFECYCLE_SQL, parameters={"d": day}).result_rows[0]
        assert backfilled["lifecycle"][day] == tuple(lifecycle), day
    last = backfilled["lifecycle"][DAYS[-1]]
    assert last[1] > 0 and last[3] > 0  # by day 8 some users were retained and some are gone


def test_a_day_is_the_same_alone_after_later_days_and_inside_a_backfill(source, dbt_run, backfilled):
    day = DAYS[4]  # the switcher receives after its os change, the late sender has not acted yet
    fresh_install(source)
    dbt_run(day)  # alone, on a fresh install
    alone = slice_rows(source, day)
    pd.testing.assert_frame_equal(alone, backfilled["rows"][day])  # = inside the backfill
    assert cohort_rows(source, day) == backfilled["cohorts"][day]
    assert lifecycle_row(source, day) == backfilled["lifecycle"][day]
    assert metric_rows(source, day) == backfilled["metrics"][day]
    dbt_run(DAYS[5], DAYS[7])  # later days (the late sender's first own event among them)
    dbt_run(day)  # the day again, now that later days are known
    pd.testing.assert_frame_equal(slice_rows(source, day), alone)
    assert cohort_rows(source, day) == backfilled["cohorts"][day]
    assert lifecycle_row(source, day) == backfilled["lifecycle"][day]
    assert metric_rows(source, day) == backfilled["metrics"][day]
    assert user_attributes(source, LATE_SENDER).get(day, (None, None, None)) == (None, None, None)


def test_fresh_install_running_only_the_last_day_equals_a_full_backfill(source, dbt_run, backfilled):
    last = DAYS[-1]
    fresh_install(source)
    dbt_run(last)
    pd.testing.assert_frame_equal(slice_rows(source, last), backfilled["rows"][last])
    assert cohort_rows(source, last) == backfilled["cohorts"][last]
    assert lifecycle_row(source, last) == backfilled["lifecycle"][last]
    assert metric_rows(source, last) == backfilled["metrics"][last]
    # the new-users count needs each user's first event over the whole history, read on this run
    new_users = "SELECT new_users FROM analytics.app_daily_metrics WHERE event_date = {d:Date}"
    assert source.command(new_users, parameters={"d": last}) == backfilled["new_users"][last]
