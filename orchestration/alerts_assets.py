"""metrics_15min as an asset, refreshed every 15 minutes (recent buckets only)."""

import datetime as dt

from dagster import AssetKey, MaterializeResult, MetadataValue, ScheduleDefinition, asset, define_asset_job

from feedpulse.alerts import metrics_table
from feedpulse.clickhouse import server_now
from orchestration.dbt import partition_settings
from orchestration.resources import ClickHouseResource
from orchestration.sensors import alerts_config, source_database


@asset(
    key=["analytics", "metrics_15min"],
    group_name="alerts",
    deps=[AssetKey([source_database(), "feed_actions"]), AssetKey([source_database(), "message_actions"])],
    kinds={"clickhouse"},
    description="Feed users, views, likes, CTR, messenger users, messages per 15-minute bucket and slice "
    "(recent buckets recomputed on every refresh).",
)
def metrics_15min(clickhouse: ClickHouseResource) -> MaterializeResult:
    client = clickhouse.get_client()
    config = alerts_config()
    since, until = metrics_table.refresh(
        client,
        until=server_now(client),
        source=source_database(),
        slices=config.slices,
        first_refresh_window=dt.timedelta(days=25),
    )
    return MaterializeResult(
        metadata={
            "recomputed_from": MetadataValue.text(f"{since:%Y-%m-%d %H:%M}"),
            "recomputed_until": MetadataValue.text(f"{until:%Y-%m-%d %H:%M}"),
        }
    )


metrics_refresh_job = define_asset_job("metrics_15min_job", selection=[metrics_15min])
metrics_refresh_schedule = ScheduleDefinition(
    name="metrics_15min_schedule",
    job=metrics_refresh_job,
    cron_schedule="*/15 * * * *",
    execution_timezone=partition_settings.timezone,
)
