"""The 15-minute anomaly sensor and the alert run it requests (one per bucket and alert group)."""

import datetime as dt

from dagster import (
    Config,
    DagsterRunStatus,
    DefaultSensorStatus,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    sensor,
)
from pydantic import Field

from feedpulse.alerts import metrics_table
from feedpulse.alerts.config import AlertsConfig, configured_config
from feedpulse.alerts.service import check, from_payload, last_complete_bucket, send, to_payload
from feedpulse.clickhouse import server_now
from feedpulse.config import settings, source_database
from feedpulse.reports.dashboard import dashboard_url
from orchestration.alerts_assets import metrics_refresh_job, refresh_run_config
from orchestration.resources import ClickHouseResource

SENSOR_INTERVAL_SECONDS = settings().alert_interval_seconds
# A metrics_15min refresh in one of these states is still to come: the sensor waits for it.
REFRESH_IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def alerts_config() -> AlertsConfig:
    return configured_config()


class AlertRunConfig(Config):
    notification: str = Field(description="The notification (JSON) the sensor decided to send.")
    lang: str = Field(
        default="", description="ru or en (default: the alerts config's language, else FEEDPULSE_LANGUAGE)."
    )


@op(description="Render the alert's chart and send it (Telegram, or the outbox without a token).")
def send_alert(context: OpExecutionContext, config: AlertRunConfig, clickhouse: ClickHouseResource) -> None:
    notification = from_payload(config.notification)
    receipt = send(
        clickhouse.get_client(),
        alerts_config(),
        notification,
        lang=config.lang or None,
        dashboard_url=dashboard_url(),
        source=source_database(),
    )
    context.log.info(
        f"{notification.kind} alert for {notification.slice} at {notification.bucket:%Y-%m-%d %H:%M} "
        f"({receipt.destination} {receipt.outbox_path or ''}): {receipt.summary()}"
    )


@job(description="Send one alert message (requested by anomaly_sensor).")
def alert_job():
    send_alert()


@sensor(
    jobs=[alert_job, metrics_refresh_job],
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every 15 minutes: detect anomalies of the key metrics per slice in the last complete bucket "
    "(first requesting a metrics_15min refresh when the bucket is not in yet; it writes no table itself).",
)
def anomaly_sensor(context: SensorEvaluationContext, clickhouse: ClickHouseResource):
    config = alerts_config()
    client = clickhouse.get_client()
    bucket = last_complete_bucket(server_now(client), config.completeness_delay_minutes)
    if context.cursor and dt.datetime.fromisoformat(context.cursor) >= bucket:
        return SkipReason(f"bucket {bucket:%H:%M} already evaluated")
    # A refresh queued or running: wait for it — its table may be half written (the first build
    # creates the table, then fills it), so even "fresh" rows are not to be judged yet.
    waiting = context.instance.get_run_records(
        RunsFilter(job_name=metrics_refresh_job.name, statuses=REFRESH_IN_PROGRESS), limit=1
    )
    if waiting:
        return SkipReason(f"bucket {bucket:%H:%M}: waiting for metrics_15min refresh {waiting[0].dagster_run.run_id}")
    if not metrics_table.is_fresh(metrics_table.last_refresh(client), bucket, config.completeness_delay_minutes):
        # No run_key: a refresh that failed, or a table lost after one, must be asked for again (a
        # per-bucket key would stall the sensor on this bucket). A later tick evaluates.
        return [
            RunRequest(
                job_name=metrics_refresh_job.name,
                run_config=refresh_run_config(client),
                tags={"feedpulse/dbt": "true", "feedpulse/bucket": f"{bucket:%Y-%m-%d %H:%M}"},
            )
        ]
    notifications = check(client, config, bucket)
    context.update_cursor(bucket.isoformat())
    if not notifications:
        return SkipReason(f"bucket {bucket:%Y-%m-%d %H:%M}: nothing to send")
    return [
        RunRequest(
            run_key=f"alert:{n.group_key}",
            job_name=alert_job.name,
            run_config={"ops": {"send_alert": {"config": {"notification": _payload(n)}}}},
            tags={"feedpulse/alert": n.kind, "feedpulse/slice": n.slice},
        )
        for n in notifications
    ]


def _payload(notification) -> str:
    return to_payload(notification)


sensors = [anomaly_sensor]
