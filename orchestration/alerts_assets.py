"""metrics_15min as a dbt asset: the model dbt_project/models/realtime/metrics_15min.sql, refreshed
whole days at a time (the days of the newest stored bucket minus the lookback through today). The
anomaly sensor requests a refresh when the newest complete bucket is not in yet; a */15 schedule
keeps the table fresh for the dashboards when the sensor is stopped."""

import datetime as dt
import json
from collections.abc import Iterator

from dagster import AssetExecutionContext, Config, ScheduleDefinition, define_asset_job
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from feedpulse.alerts import metrics_table
from feedpulse.alerts.config import configured_config
from feedpulse.alerts.service import history_window
from feedpulse.clickhouse import server_now
from feedpulse.config import source_database
from feedpulse.etl import dbt_vars
from orchestration.dbt import manifest, partition_settings, translator
from orchestration.project import dbt_project
from orchestration.resources import ClickHouseResource

METRICS_15MIN = "metrics_15min"
# The first refresh of an empty table: the detector's history, and a few days for the alert charts.
FIRST_WINDOW_EXTRA = dt.timedelta(days=3)


class MetricsRefreshConfig(Config):
    """Run config of a refresh (the anomaly sensor sets both; empty: computed when the run starts)."""

    start_date: str = Field(default="", description="First day to recompute (YYYY-MM-DD).")
    end_date: str = Field(default="", description="Day after the last one to recompute (YYYY-MM-DD).")


def refresh_days(client) -> tuple[dt.date, dt.date]:
    """The days [start, end) a refresh now recomputes: from the newest stored bucket's day (less the
    lookback) through today, or the detector's history and a few days on an empty table."""
    return metrics_table.refresh_window(
        server_now(client), metrics_table.last_bucket(client), history_window(configured_config()) + FIRST_WINDOW_EXTRA
    )


def refresh_run_config(client) -> dict[str, object]:
    """The run config a sensor's refresh request carries: the days fixed when it was requested."""
    start, end = refresh_days(client)
    days = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    return {"ops": {"metrics_15min_refresh": {"config": days}}}


def refresh_vars(client, config: MetricsRefreshConfig) -> dict[str, object]:
    """The dbt --vars of one refresh: the days to recompute, the source, the alert slices."""
    if config.start_date and config.end_date:
        start, end = dt.date.fromisoformat(config.start_date), dt.date.fromisoformat(config.end_date)
    else:
        start, end = refresh_days(client)
    slices = ",".join(configured_config().slices)
    return dbt_vars(start, end, source_database=source_database(), alert_slices=slices)


@dbt_assets(
    manifest=manifest,
    project=dbt_project,
    select=METRICS_15MIN,
    dagster_dbt_translator=translator,
    pool="dbt",  # one dbt run at a time (dbt-clickhouse; the daily ETL shares the pool)
    name="metrics_15min_refresh",
)
def metrics_15min_assets(
    context: AssetExecutionContext, config: MetricsRefreshConfig, dbt: DbtCliResource, clickhouse: ClickHouseResource
) -> Iterator:
    """`dbt build` of metrics_15min (model + tests) for the days the refresh recomputes."""
    clickhouse.ensure_server()
    variables = refresh_vars(clickhouse.get_client(), config)
    context.log.info(f"metrics_15min for [{variables['start_date']}, {variables['end_date']})")
    yield from dbt.cli(["build", "--vars", json.dumps(variables)], context=context).stream()


metrics_refresh_job = define_asset_job(
    "metrics_15min_job",
    selection=[metrics_15min_assets],
    tags={"feedpulse/dbt": "true"},  # the production run queue admits one dbt run at a time
    description="Refresh analytics.metrics_15min (dbt) for the days since its newest bucket.",
)
metrics_refresh_schedule = ScheduleDefinition(
    name="metrics_15min_schedule",
    job=metrics_refresh_job,
    cron_schedule="*/15 * * * *",
    execution_timezone=partition_settings.timezone,
)
