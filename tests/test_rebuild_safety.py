"""Rebuilding days is invisible to readers and leaves no debris (issue 12).

- Readers never see an empty day during a rebuild: a reader polling a day's rows in the final
  table and two intermediate ones while the day is re-run always finds them (the window's days
  used to be dropped in a pre-hook before the new data existed).
- A day whose source data became empty is still emptied (only the days the new data does not
  contain are dropped).
- Temporary relations of killed runs (`<model>__dbt_new_data_<invocation>`, `__dbt_tmp`, …) are
  dropped by the next run once stale; young ones (maybe a concurrent run's) and tables that are not
  this project's are left alone.

Fixed dates; dbt is run directly.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.dbt]

SOURCE_DB = "rebuild_sim"
DAYS = [dt.date(2026, 9, 1), dt.date(2026, 9, 2)]
WATCHED = ("test.daily_slice_metrics", "analytics.user_daily", "analytics.int_feed_user_daily")


def window(first: dt.date, last: dt.date, **extra: object) -> dict[str, object]:
    end = last + dt.timedelta(days=1)
    return {"start_date": first.isoformat(), "end_date": end.isoformat(), "source_database": SOURCE_DB, **extra}


@pytest.fixture(scope="module")
def built(ch_client, dbt_cli):
    from feedpulse.simulator import simulate

    simulate(ch_client, start=DAYS[0], days=len(DAYS), scale=0.02, seed=17, database=SOURCE_DB)
    for database in ("analytics", "test"):
        ch_client.command(f"DROP DATABASE IF EXISTS {database}")
    dbt_cli(window(DAYS[0], DAYS[-1]))
    yield ch_client
    for database in ("analytics", "test"):
        ch_client.command(f"DROP DATABASE IF EXISTS {database}")


def day_counts(client, day: dt.date) -> tuple[int, ...]:
    columns = ", ".join(f"(SELECT count() FROM {table} WHERE event_date = {{d:Date}})" for table in WATCHED)
    return tuple(client.query(f"SELECT {columns}", parameters={"d": day}).result_rows[0])


def test_readers_never_see_an_empty_day_during_a_rebuild(built, dbt_cli, localhouse):
    from feedpulse.clickhouse import get_client

    day = DAYS[0]
    before = day_counts(built, day)
    assert min(before) > 0
    seen: list[tuple[int, ...]] = []
    done = threading.Event()

    def read_while_rebuilding() -> None:
        reader = get_client(settings=localhouse)  # a reader of its own (a report, an alert)
        try:
            while not done.is_set():
                seen.append(day_counts(reader, day))
                time.sleep(0.01)
        finally:
            reader.close()

    reader = threading.Thread(target=read_while_rebuilding)
    reader.start()
    try:
        dbt_cli(window(day, day))
    finally:
        done.set()
        reader.join()
    assert len(seen) > 20  # the reader was polling throughout the run
    empty = [counts for counts in seen if min(counts) == 0]
    assert empty == [], f"{len(empty)} of {len(seen)} reads found the day missing in {WATCHED}"
    assert day_counts(built, day) == before  # and the rebuild changed nothing


def test_a_day_whose_source_became_empty_is_emptied(built, dbt_cli):
    day = DAYS[1]
    assert min(day_counts(built, day)) > 0
    for table in ("feed_actions", "message_actions"):
        built.command(f"ALTER TABLE {SOURCE_DB}.{table} DROP PARTITION {{d:Date}}", parameters={"d": day})
    dbt_cli(window(day, day))
    assert day_counts(built, day) == (0, 0, 0)
    assert day_counts(built, DAYS[0]) != (0, 0, 0)  # the other day is untouched


def test_temporary_relations_of_killed_runs_are_dropped_once_stale(built, dbt_cli):
    # dbt-clickhouse itself replaces a model's `__dbt_tmp`/`__dbt_backup` when it builds the model;
    # the per-invocation `__dbt_new_data_<invocation>` copies are what nothing else removes.
    debris = [
        "test.daily_slice_metrics__dbt_new_data_0b3e1c2a_4d5f_4a6b_8c7d_9e0f1a2b3c4d",
        "analytics.user_daily__dbt_new_data_5f1d2e3c_aaaa_4bbb_8ccc_0123456789ab",
    ]
    not_ours = ["analytics.notes__dbt_new_data_0b3e1c2a", "analytics.user_daily_copy"]
    built.command(f"CREATE TABLE {debris[0]} AS test.daily_slice_metrics")
    built.command(f"INSERT INTO {debris[0]} SELECT * FROM test.daily_slice_metrics")
    for name in debris[1:] + not_ours:
        built.command(f"CREATE TABLE {name} (x UInt8) ENGINE = MergeTree ORDER BY x")

    def present() -> set[str]:
        rows = built.query("SELECT database || '.' || name FROM system.tables WHERE database IN ('analytics', 'test')")
        return {row[0] for row in rows.result_rows}

    dbt_cli(window(DAYS[0], DAYS[0]))  # young: maybe a concurrent run's, so kept
    assert set(debris + not_ours) <= present()
    time.sleep(1.1)
    result = dbt_cli(window(DAYS[0], DAYS[0], stale_temp_relation_hours=0))
    assert present().isdisjoint(debris)
    assert set(not_ours) <= present()
    assert "a temporary relation left by an interrupted run" in result.stdout
