"""Dagster schedules: the daily ETL (yesterday's partition at 00:30 local time)."""

from __future__ import annotations

from dagster import AssetSelection, build_schedule_from_partitioned_job, define_asset_job

from feedpulse.config import settings
from orchestration.dbt import daily_etl_assets, daily_partitions
from orchestration.reports import daily_reports_job, daily_reports_schedule, dashboard_job, dashboard_schedule

ETL_TIME = settings().etl_time

daily_etl_job = define_asset_job(
    "daily_etl_job",
    selection=AssetSelection.assets(daily_etl_assets),
    partitions_def=daily_partitions,
    tags={"feedpulse/dbt": "true"},  # the production run queue admits one such run at a time
    description="dbt build of the day: per-user extracts → user_daily → os/gender/age slices → daily_slice_metrics.",
)

daily_etl_schedule = build_schedule_from_partitioned_job(
    daily_etl_job, hour_of_day=ETL_TIME.hour, minute_of_hour=ETL_TIME.minute, name="daily_etl_schedule"
)

jobs = [daily_etl_job, daily_reports_job, dashboard_job]
schedules = [daily_etl_schedule, daily_reports_schedule, dashboard_schedule]
