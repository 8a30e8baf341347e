"""Pure helpers of the daily ETL: partition settings and dbt vars of a window."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from feedpulse.config import Settings, SettingsError
from feedpulse.etl import PartitionSettings, days_in_window, dbt_vars, window_dates

MOSCOW = ZoneInfo("Europe/Moscow")


def test_vars_of_one_day_partition():
    start = dt.datetime(2026, 11, 1, tzinfo=MOSCOW)
    assert dbt_vars(start, start + dt.timedelta(days=1)) == {"start_date": "2026-11-01", "end_date": "2026-11-02"}


def test_vars_of_a_backfill_window_and_extras():
    variables = dbt_vars(dt.date(2026, 10, 1), dt.date(2026, 10, 31), source_database="other")
    assert variables == {"start_date": "2026-10-01", "end_date": "2026-10-31", "source_database": "other"}
    assert len(days_in_window(dt.date(2026, 10, 1), dt.date(2026, 10, 31))) == 30


def test_window_ending_inside_a_day_covers_it():
    start = dt.datetime(2026, 11, 1, tzinfo=MOSCOW)
    assert window_dates(start, start + dt.timedelta(hours=5)) == (dt.date(2026, 11, 1), dt.date(2026, 11, 2))


def test_empty_window_is_an_error():
    with pytest.raises(ValueError, match="empty partition window"):
        window_dates(dt.date(2026, 11, 2), dt.date(2026, 11, 2))


def test_partition_start_is_the_configured_date_without_asking_the_source():
    asked = []
    config = Settings.from_env({"FEEDPULSE_START_DATE": "2026-01-01", "FEEDPULSE_TIMEZONE": "UTC"})
    partitions = PartitionSettings.resolve(lambda: asked.append(1) or dt.date(2025, 1, 1), config)
    assert (partitions.start_date, partitions.timezone) == (dt.date(2026, 1, 1), "UTC")
    assert asked == []


def test_partition_start_defaults_to_the_first_source_day():
    partitions = PartitionSettings.resolve(lambda: dt.date(2026, 9, 1), Settings.from_env({}))
    assert (partitions.start_date, partitions.timezone) == (dt.date(2026, 9, 1), "Europe/Moscow")


def test_no_start_date_and_no_source_data_is_a_clear_error():
    with pytest.raises(
        SettingsError, match=r"FEEDPULSE_START_DATE is unset and simulator\.feed_actions holds no events"
    ):
        PartitionSettings.resolve(lambda: None, Settings.from_env({}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FEEDPULSE_START_DATE", "01/01/2026"),
        ("FEEDPULSE_TIMEZONE", "Mars/Olympus"),
        ("FEEDPULSE_ETL_TIME", "half past"),
        ("FEEDPULSE_REPORT_TIME", "25:00"),
        ("FEEDPULSE_ALERT_INTERVAL_SECONDS", "0"),
        ("FEEDPULSE_SOURCE_DATABASE", "x`; DROP TABLE test.t; --"),
    ],
)
def test_a_bad_setting_names_its_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
