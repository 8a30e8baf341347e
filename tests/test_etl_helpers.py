"""Pure helpers of the daily ETL: partition settings and dbt vars of a window."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

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


def test_partition_settings_defaults_and_errors():
    settings = PartitionSettings.from_env({}, today=dt.date(2026, 11, 23))
    assert settings.timezone == "Europe/Moscow"
    assert settings.start_date == dt.date(2026, 10, 19)
    custom = PartitionSettings.from_env(
        {"FEEDPULSE_START_DATE": "2026-01-01", "FEEDPULSE_TIMEZONE": "UTC"}, today=dt.date(2026, 11, 23)
    )
    assert (custom.start_date, custom.timezone) == (dt.date(2026, 1, 1), "UTC")
    with pytest.raises(ValueError, match="FEEDPULSE_START_DATE"):
        PartitionSettings.from_env({"FEEDPULSE_START_DATE": "01/01/2026"})
    with pytest.raises(ValueError, match="FEEDPULSE_TIMEZONE"):
        PartitionSettings.from_env({"FEEDPULSE_TIMEZONE": "Mars/Olympus"})


def test_partitions_start_is_pinned_in_the_suite_and_slides_with_a_frozen_today():
    """The conftest pins FEEDPULSE_START_DATE, so partitions (and the dated test data in them) do not
    move with the clock; without it the start is "35 days before today" in the data timezone."""
    import time_machine

    from tests.conftest import PARTITIONS_START

    with time_machine.travel(dt.datetime(2027, 3, 10, 23, 30, tzinfo=dt.timezone.utc), tick=False):
        assert PartitionSettings.from_env().start_date == PARTITIONS_START
        moscow = PartitionSettings.from_env({})  # already 2027-03-11 in Moscow
        assert moscow.start_date == dt.date(2027, 3, 11) - dt.timedelta(days=35)
        assert PartitionSettings.from_env({"FEEDPULSE_TIMEZONE": "UTC"}).start_date == dt.date(2027, 2, 3)
