"""The alerting loop, without Dagster: find the last complete bucket, read metrics_15min (a dbt
model the sensor has refreshed), run the detector on every metric × slice, advance the lifecycle,
and send one message per notification group (text with the segments behind each firing metric +
one 48 h chart per metric, the largest |z| first) to Telegram or the outbox.

The Dagster sensor calls :func:`check` on every tick and hands each notification to a run that
calls :func:`send`; notifications travel between the two as JSON (:func:`to_payload`).

:func:`send` records every part per chat in the sent log under :func:`delivery_key` — the bucket,
slice and kind, never the message text (its wording may change) — so re-executing an alert run
sends nothing that arrived already, and a run interrupted mid-delivery resumes at the missing part.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pandas as pd

from feedpulse.alerts import metrics_table, segments
from feedpulse.alerts.config import AlertsConfig
from feedpulse.alerts.detector import Detector, Evaluation, evaluate_frame
from feedpulse.alerts.explain import Explanation, explain
from feedpulse.alerts.lifecycle import AlertStore, Notification, process_bucket
from feedpulse.alerts.message import alert_chart, alert_html
from feedpulse.alerts.series import BUCKET, stream
from feedpulse.charts import ChartRenderer
from feedpulse.config import language
from feedpulse.superset.links import alert_link
from feedpulse.telegram import (
    MEDIA_GROUP_MAX,
    Delivery,
    DeliveryReceipt,
    Photo,
    SentLog,
    TelegramSettings,
    deliver,
    pending_chats,
)


def last_complete_bucket(now: dt.datetime, delay_minutes: int) -> dt.datetime:
    """The latest 15-minute bucket that ended at least ``delay_minutes`` before ``now``."""
    now = now.replace(tzinfo=None) if now.tzinfo else now
    ready = now - dt.timedelta(minutes=delay_minutes)
    floor = ready.replace(minute=ready.minute - ready.minute % 15, second=0, microsecond=0)
    return floor - BUCKET.to_pytimedelta()


def history_window(config: AlertsConfig) -> dt.timedelta:
    return dt.timedelta(days=Detector(next(iter(config.metrics.values())), config.detector).window_days)


def check(
    client,
    config: AlertsConfig,
    bucket: dt.datetime,
    *,
    store: AlertStore | None = None,
) -> list[Notification]:
    """Evaluate ``bucket`` for every metric and slice from ``analytics.metrics_15min`` (refreshed
    beforehand: :func:`feedpulse.alerts.metrics_table.is_fresh`); the notifications the lifecycle wants
    sent."""
    end = bucket + BUCKET.to_pytimedelta()
    frame = metrics_table.load(client, start=bucket - history_window(config), end=end, slices=config.slices)
    if frame.empty:
        return []
    evaluations = evaluate_frame(frame, config, pd.Timestamp(bucket))
    return process_bucket(
        store or AlertStore(),
        evaluations,
        repeat_interval=config.repeat_interval,
        resolve_after=config.resolve_after_buckets,
    )


def to_payload(notification: Notification) -> str:
    return json.dumps(
        {
            "kind": notification.kind,
            "slice": notification.slice,
            "bucket": notification.bucket.isoformat(),
            "started": notification.started.isoformat() if notification.started else None,
            "evaluations": [_evaluation_dict(e) for e in notification.evaluations],
        }
    )


def from_payload(payload: str) -> Notification:
    data = json.loads(payload)
    return Notification(
        kind=data["kind"],
        slice=data["slice"],
        bucket=dt.datetime.fromisoformat(data["bucket"]),
        started=dt.datetime.fromisoformat(data["started"]) if data["started"] else None,
        evaluations=[_evaluation_from_dict(e) for e in data["evaluations"]],
    )


# Float fields of an Evaluation; NaN (e.g. the z of a no-data bucket) travels as JSON null.
_FLOAT_FIELDS = ("value", "expected", "lower", "upper", "z", "deviation")


def _evaluation_from_dict(data: dict[str, Any]) -> Evaluation:
    floats = {name: float("nan") if data[name] is None else float(data[name]) for name in _FLOAT_FIELDS}
    return Evaluation(**{**data, **floats, "bucket": pd.Timestamp(data["bucket"])})


def _evaluation_dict(evaluation: Evaluation) -> dict[str, Any]:
    out = {}
    for name in ("metric", "slice", *_FLOAT_FIELDS, "status", "reason"):
        value = getattr(evaluation, name)
        out[name] = None if isinstance(value, float) and value != value else value
    out["bucket"] = pd.Timestamp(evaluation.bucket).isoformat()
    return out


def chart_history(client, config: AlertsConfig, evaluation: Evaluation, bucket: dt.datetime) -> pd.DataFrame:
    """value, expected, lower, upper per bucket, for the chart (the detector's causal scan)."""
    end = bucket + BUCKET.to_pytimedelta()
    start = bucket - history_window(config) - dt.timedelta(days=2)
    frame = metrics_table.load(client, start=start, end=end, slices=config.slices)
    metric = config.metrics[evaluation.metric]
    series = stream(frame, evaluation.metric, evaluation.slice)
    volume = stream(frame, metric.volume_metric, evaluation.slice) if metric.volume_metric else None
    users = stream(frame, metric.per_user_of, evaluation.slice) if metric.per_user_of else None
    scan = Detector(metric, config.detector).run(series, volume, users=users)
    grid = pd.date_range(series.index.min(), series.index.max(), freq=BUCKET)
    return pd.DataFrame(
        {"value": series.reindex(grid).to_numpy(), "expected": scan.expected, "lower": scan.lower, "upper": scan.upper},
        index=grid,
    )


def explain_notification(
    client, config: AlertsConfig, notification: Notification, *, source: str = "simulator"
) -> dict[str, Explanation]:
    """metric → the segments that explain its deviation, for every firing metric of the notification.

    Cells are read once per raw table (feed, messages): the bucket and the same slots (± the detector's
    ``slot_halfwidth``) of its ``history_days`` days; each segment is expected at the detector's
    expectation × its baseline share.
    """
    out: dict[str, Explanation] = {}
    cells: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    tuning = config.detector
    for evaluation in notification.evaluations:
        if evaluation.status != "firing" or math.isnan(evaluation.expected):
            continue
        table = segments.table_of(evaluation.metric)
        if table not in cells:
            cells[table] = segments.load_cells(
                client, evaluation.metric, notification.bucket, source=source,
                days=tuning.history_days, halfwidth=tuning.slot_halfwidth, by_slot=True,
            )  # fmt: skip
        current, baseline = cells[table]
        out[evaluation.metric] = explain(
            current, baseline, evaluation.metric, expected_total=evaluation.expected, slice_label=evaluation.slice,
            driver=config.metrics[evaluation.metric].per_user_of,
        )  # fmt: skip
    return out


def by_abs_z(evaluations: list[Evaluation]) -> list[Evaluation]:
    """Evaluations by |z|, largest first (no z last): the first is the metric that fired hardest."""
    return sorted(evaluations, key=lambda e: -abs(e.z) if e.z == e.z else math.inf)


def delivery_key(notification: Notification) -> str:
    """The alert's identity in the sent log: ``alert/<bucket>/<slice>/<kind>``."""
    return f"alert/{notification.bucket:%Y-%m-%dT%H:%M}/{notification.slice}/{notification.kind}"


def send(
    client,
    config: AlertsConfig,
    notification: Notification,
    *,
    lang: str | None = None,
    dashboard_url: str | None = None,
    telegram: TelegramSettings | None = None,
    renderer: ChartRenderer | None = None,
    sent_log: SentLog | None = None,
    source: str = "simulator",
    explain_causes: bool = True,
) -> DeliveryReceipt:
    """Render and deliver one notification; chats that have it already get nothing (no chart rendered).

    The text names the segments behind each firing metric (read from the raw tables in ``source``);
    one chart per metric of the notification, the metric with the largest |z| first.
    """
    telegram = telegram or TelegramSettings.from_env()
    sent_log = sent_log or SentLog()
    key = delivery_key(notification)
    if not pending_chats(key, telegram, sent_log):
        targets = pending_chats(key, telegram, None)
        return DeliveryReceipt("telegram" if telegram.token else "outbox", [], [], already_delivered=targets)
    lang = language(lang or config.language)
    evaluations = notification.evaluations
    owners = [config.metrics[e.metric].owner(e.slice) for e in evaluations if e.metric in config.metrics]
    ranked = by_abs_z(evaluations)
    lead = ranked[0]
    # The metric's own template, else the file's, else Superset's 15-minute dashboard on this slice and
    # day (FEEDPULSE_SUPERSET_URL), else the static page.
    fallback = alert_link(lead.slice, notification.bucket) or dashboard_url
    links = config.metrics[lead.metric].links(lead.slice, notification.bucket, config.dashboard_url, fallback)
    explanations = explain_notification(client, config, notification, source=source) if explain_causes else {}
    html = alert_html(notification, owners=[o for o in owners if o], links=links, lang=lang, explanations=explanations)
    # one chart per metric in the message, the one with the largest |z| first (a media group from two)
    charted = [e for e in ranked if e.metric in config.metrics][:MEDIA_GROUP_MAX]
    figures = [
        alert_chart(chart_history(client, config, e, notification.bucket), e.metric, e.slice, notification.bucket,
                    lang=lang)
        for e in charted
    ]  # fmt: skip
    if renderer is None:
        with ChartRenderer() as own:
            pngs = [own.png(f) for f in figures]
    else:
        pngs = [renderer.png(f) for f in figures]
    name = f"alert-{notification.bucket:%H%M}-{notification.slice.replace(':', '-')}-{notification.kind}"
    delivery = Delivery(
        name=name,
        day=notification.bucket.date(),
        html=html,
        photos=[
            Photo(name=f"{e.metric}-{e.slice.replace(':', '-')}.png", png=png)
            for e, png in zip(charted, pngs, strict=True)
        ],
        key=key,
    )
    return deliver(delivery, telegram, sent_log=sent_log)
