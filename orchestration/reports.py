"""Report assets (feed report, app report: daily partitions, 11:00) and the dashboard asset."""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Config,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
)
from pydantic import Field

from feedpulse.config import language, settings
from feedpulse.reports import dashboard
from feedpulse.reports.run import markdown, run_report
from orchestration.dbt import daily_partitions, partition_settings
from orchestration.resources import ClickHouseResource

REPORT_TIME = settings().report_time


class ReportConfig(Config):
    lang: str = Field(
        default="", description="Language of the report text: ru or en (default: FEEDPULSE_LANGUAGE, else ru)."
    )
    resend: bool = Field(
        default=False,
        description="Send a new copy to chats that already got this day's report (an interrupted delivery is "
        "completed either way, each part once).",
    )


def _report(
    kind: str, context: AssetExecutionContext, config: ReportConfig, clickhouse: ClickHouseResource
) -> MaterializeResult:
    day = dt.date.fromisoformat(context.partition_key)
    run = run_report(
        kind,
        clickhouse.get_client(),
        day,
        lang=language(config.lang),
        resend=config.resend,  # type: ignore[arg-type]
        dashboard_url=dashboard.dashboard_url(),
    )
    receipt = run.receipt
    if receipt is not None:
        context.log.info(f"delivery: {receipt.summary()}" + (" (set resend to force)" if run.already_sent_to else ""))
    return MaterializeResult(
        metadata={
            "report": MetadataValue.md(markdown(run)),
            "day": MetadataValue.text(day.isoformat()),
            "delivered_to": MetadataValue.text(", ".join(run.delivered_to) or "nobody (already sent)"),
            "delivery": MetadataValue.text(receipt.summary() if receipt else "-"),
            "destination": MetadataValue.text(receipt.destination if receipt else "none"),
            "outbox_path": MetadataValue.path(str(receipt.outbox_path))
            if receipt and receipt.outbox_path
            else MetadataValue.text("-"),
            **{f"value_{k}": MetadataValue.float(float(v)) for k, v in run.content.numbers.items() if v is not None},
        }
    )


@asset(
    key=["reports", "feed_report"],
    partitions_def=daily_partitions,
    deps=[AssetKey(["analytics", "metrics_daily"])],
    group_name="reports",
    kinds={"telegram", "plotly"},
    description="Feed report for the day: the feed report's metrics (feedpulse.metrics: DAU, views, likes, CTR) "
    "with changes vs D−1 and D−7, and a 7-day chart.",
)
def feed_report(
    context: AssetExecutionContext, config: ReportConfig, clickhouse: ClickHouseResource
) -> MaterializeResult:
    return _report("feed", context, config, clickhouse)


@asset(
    key=["reports", "app_report"],
    partitions_def=daily_partitions,
    deps=[AssetKey(["analytics", "metrics_daily"]), AssetKey(["analytics", "app_daily_metrics"])],
    group_name="reports",
    kinds={"telegram", "plotly"},
    description="App report for the day (feed + messenger), changes vs a day, a week and a month before, "
    "charts for the week.",
)
def app_report(
    context: AssetExecutionContext, config: ReportConfig, clickhouse: ClickHouseResource
) -> MaterializeResult:
    return _report("app", context, config, clickhouse)


METRICS_15MIN = AssetKey(["analytics", "metrics_15min"])


@asset(
    key=["reports", "dashboard"],
    deps=[
        AssetKey(["analytics", "app_daily_metrics"]),
        AssetKey(["analytics", "active_users_daily"]),
        AssetKey(["analytics", "metrics_daily"]),
        METRICS_15MIN,
    ],
    group_name="reports",
    kinds={"html", "plotly"},
    description="Static interactive HTML dashboard ($FEEDPULSE_HOME/dashboard/index.html); its 15-minute panel "
    "shows today so far from analytics/metrics_15min.",
)
def monitoring_dashboard(context: AssetExecutionContext, clickhouse: ClickHouseResource) -> MaterializeResult:
    data = dashboard.load(clickhouse.get_client())
    path = dashboard.write(data)
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path)),
            "url": MetadataValue.url(dashboard.dashboard_url()),
            "size_bytes": MetadataValue.int(path.stat().st_size),
            "generated_at": MetadataValue.text(f"{data.now:%Y-%m-%d %H:%M} (server time)"),
            "quarter_hour_notes": MetadataValue.text(" ".join(data.quarter_hours_notes) or "none"),
        }
    )


report_assets = [feed_report, app_report, monitoring_dashboard]

daily_reports_job = define_asset_job(
    "daily_reports_job",
    selection=AssetSelection.assets(feed_report, app_report),
    partitions_def=daily_partitions,
    description="Feed and app reports for yesterday, to Telegram (or the outbox).",
)
daily_reports_schedule = build_schedule_from_partitioned_job(
    daily_reports_job, hour_of_day=REPORT_TIME.hour, minute_of_hour=REPORT_TIME.minute, name="daily_reports_schedule"
)
# The job refreshes metrics_15min first (recent buckets only, cheap), so the page written every 15
# minutes shows today up to the last complete bucket even when the anomaly sensor is off.
dashboard_job = define_asset_job(
    "dashboard_job", selection=AssetSelection.assets(monitoring_dashboard) | AssetSelection.keys(METRICS_15MIN)
)
dashboard_schedule = ScheduleDefinition(
    name="dashboard_schedule",
    job=dashboard_job,
    cron_schedule="*/15 * * * *",
    execution_timezone=partition_settings.timezone,
)
