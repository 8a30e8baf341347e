"""Alert messages (Telegram HTML, ru/en) and their chart: the last 48 h against the expected band
and the same hours a week before.

The text keeps the original template's facts — "Метрика {metric_name} в срезе {group}. Текущее
значение {current_x}. Отклонение более {x}%." — and adds the expected value and band, z, the
time window, links and the owner's @mention; under each firing metric, the top segments that explain
its deviation (:mod:`feedpulse.alerts.explain`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from feedpulse.alerts.explain import Explanation, SegmentChange
from feedpulse.charts import apply_style, number
from feedpulse.i18n import DEFAULT_LANG, Catalog, check_lang
from feedpulse.metrics import definitions
from feedpulse.telegram.messages import bold, escape, link

_TEXTS: dict[str, dict[str, str]] = {
    "firing": {
        "ru": "🔴 Метрика <b>{metric}</b> в срезе <b>{slice}</b>. Текущее значение <b>{value}</b>. "
        "Отклонение более {pct}%.",
        "en": "🔴 Metric <b>{metric}</b> in slice <b>{slice}</b>. Current value <b>{value}</b>. Deviation over {pct}%.",
    },
    "no_data": {
        "ru": "⚪ Нет данных: метрика <b>{metric}</b> в срезе <b>{slice}</b> — {value} при ожидаемых ~{expected}.",
        "en": "⚪ No data: metric <b>{metric}</b> in slice <b>{slice}</b> is {value} where ~{expected} was expected.",
    },
    "resolved": {
        "ru": "✅ Метрика <b>{metric}</b> в срезе <b>{slice}</b> вернулась к норме: {value} (ожидалось {expected}).",
        "en": "✅ Metric <b>{metric}</b> in slice <b>{slice}</b> is back to normal: {value} (expected {expected}).",
    },
    "details": {
        "ru": "ожидалось {expected} (коридор {lower} – {upper}), z = {z}",
        "en": "expected {expected} (band {lower} – {upper}), z = {z}",
    },
    "header_firing": {"ru": "Аномалия", "en": "Anomaly"},
    "header_repeat": {"ru": "Всё ещё аномалия", "en": "Still firing"},
    "header_resolved": {"ru": "Норма", "en": "Resolved"},
    "window": {"ru": "окно {start}–{end} {day}", "en": "window {start}–{end} {day}"},
    "since": {"ru": "с {start}", "en": "since {start}"},
    "dashboard": {"ru": "Дашборд", "en": "Dashboard"},
    "chart": {"ru": "График", "en": "Chart"},
    "chart_title": {"ru": "{metric} · {slice}: последние 48 ч", "en": "{metric} · {slice}: last 48 h"},
    "actual": {"ru": "факт", "en": "actual"},
    "expected": {"ru": "ожидание", "en": "expected"},
    "band": {"ru": "коридор", "en": "band"},
    "week_before": {"ru": "неделю назад", "en": "a week before"},
    "where": {
        "ru": "Где: {segment} — {share} % отклонения ({change} % в сегменте)",
        "en": "Where: {segment} — {share}% of the deviation ({change}% in the segment)",
    },
    # a count with a driver (explain's ``driver``): how the segment's change splits into the driver's and per unit
    "where_split": {
        "ru": "Где: {segment} — {share} % отклонения ({change} % в сегменте: {split})",
        "en": "Where: {segment} — {share}% of the deviation ({change}% in the segment: {split})",
    },
    "split_feed_users": {
        "ru": "пользователей {driver} %, на пользователя {unit} %",
        "en": "users {driver}%, per user {unit}%",
    },
    "split_views": {"ru": "просмотров {driver} %, на просмотр {unit} %", "en": "views {driver}%, per view {unit}%"},
    "split_messenger_users": {
        "ru": "отправителей {driver} %, на отправителя {unit} %",
        "en": "senders {driver}%, per sender {unit}%",
    },
    "where_uniform": {
        "ru": "Где: везде примерно одинаково (ни один сегмент не выделяется)",
        "en": "Where: about the same everywhere (no segment stands out)",
    },
    "mix_rate": {
        "ru": "Из-за чего (по {dimension}): состав аудитории {mix} %, поведение внутри сегментов {rate} %",
        "en": "Why (by {dimension}): audience mix {mix}%, behaviour within segments {rate}%",
    },
    "new_segment": {"ru": "новый", "en": "new"},
}
TEXTS = Catalog("alerts", _TEXTS)
WHERE_LINES = 3


def _is_ratio(metric: str) -> bool:
    catalog = definitions()
    return metric in catalog and catalog[metric].type == "ratio"


def fmt(metric: str, value: float | None) -> str:
    """A value with its metric's decimals (feedpulse.metrics)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    catalog = definitions()
    return number(value, catalog[metric].decimals if metric in catalog else 0)


def _t(key: str, lang: str, **values: object) -> str:
    return TEXTS.text(key, lang, **values)


def evaluation_line(evaluation, kind: str, lang: str) -> str:
    metric, esc = evaluation.metric, escape
    values = {
        "metric": esc(metric),
        "slice": esc(evaluation.slice),
        "value": fmt(metric, evaluation.value),
        "expected": fmt(metric, evaluation.expected),
    }
    if kind == "resolved":
        return _t("resolved", lang, **values)
    if evaluation.status == "no_data":
        return _t("no_data", lang, **values)
    pct = math.floor(abs(evaluation.deviation) * 100) if evaluation.deviation == evaluation.deviation else 0
    details = _t(
        "details",
        lang,
        expected=values["expected"],
        lower=fmt(metric, evaluation.lower),
        upper=fmt(metric, evaluation.upper),
        z=f"{evaluation.z:+.1f}".replace("-", "−"),
    )
    return _t("firing", lang, pct=pct, **values) + f"\n<i>{details}</i>"


def _percent(share: float) -> str:
    value = round(share * 100)
    return f"{value:d}".replace("-", "−") if value else "0"


def _signed_percent(value: float, lang: str) -> str:
    if math.isinf(value):
        return TEXTS.word("new_segment", lang)
    return f"{value * 100:+.0f}".replace("-", "−")


def _where(segment: SegmentChange, driver: str | None, lang: str) -> str:
    """One «Где:» line; with the split into the driver's change and the change per unit where both are known."""
    values = {
        "segment": escape(segment.label()),
        "share": _percent(segment.share),
        "change": _signed_percent(segment.change, lang),
    }
    split = f"split_{driver}"
    if driver is None or split not in TEXTS or not math.isfinite(segment.unit_change):
        return _t("where", lang, **values)
    parts = _t(
        split,
        lang,
        driver=_signed_percent(segment.driver_change, lang),
        unit=_signed_percent(segment.unit_change, lang),
    )
    return _t("where_split", lang, split=parts, **values)


def why_lines(explanation: Explanation | None, lang: str, limit: int = WHERE_LINES) -> list[str]:
    """«Где: Android · source=ads — 78 % отклонения (−64 % в сегменте)» for the top segments, and for a
    ratio the mix/rate split; nothing without an explanation."""
    if explanation is None or not explanation.segments:
        return []
    if explanation.uniform:
        lines = [_t("where_uniform", lang)]
    else:
        lines = [_where(s, explanation.driver, lang) for s in explanation.top(limit)]
    split = explanation.mix_rate
    if split is not None and split.total:
        lines.append(
            _t(
                "mix_rate",
                lang,
                dimension=escape(" × ".join(split.dimensions)),
                mix=_percent(split.mix_share),
                rate=_percent(split.rate_share),
            )
        )
    return lines


def alert_html(
    notification,
    *,
    owners: Sequence[str] = (),
    links: Mapping[str, str] | None = None,
    lang: str = DEFAULT_LANG,
    explanations: Mapping[str, Explanation] | None = None,
) -> str:
    """One message for the metrics of one slice that changed state in the same bucket."""
    check_lang(lang)
    bucket = notification.bucket
    end = bucket + dt.timedelta(minutes=15)
    header = TEXTS.word(f"header_{notification.kind}", lang)
    window = _t("window", lang, start=f"{bucket:%H:%M}", end=f"{end:%H:%M}", day=f"{bucket:%d.%m.%Y}")
    lines = [f"{bold(header)} · {escape(notification.slice)} · {window}"]
    if notification.kind != "firing" and notification.started is not None:
        lines[0] += " · " + _t("since", lang, start=f"{notification.started:%d.%m %H:%M}")
    for evaluation in notification.evaluations:
        lines.append(evaluation_line(evaluation, notification.kind, lang))
        if notification.kind != "resolved":
            lines += why_lines((explanations or {}).get(evaluation.metric), lang)
    link_parts = [
        link(TEXTS.word(name, lang), url)
        for name, url in (links or {}).items()
        if url and name in ("dashboard", "chart")
    ]
    if link_parts:
        lines.append(" · ".join(link_parts))
    mentions = sorted({o for o in owners if o})
    if mentions:
        lines.append(" ".join(escape(m) for m in mentions))
    return "\n".join(lines)


def alert_chart(
    history: pd.DataFrame, metric: str, slice_label: str, bucket: dt.datetime, lang: str = DEFAULT_LANG
) -> go.Figure:
    """``history``: index = bucket timestamps (at least the last 8 days), columns ``value`` and,
    where known, ``expected``, ``lower``, ``upper``."""
    end = pd.Timestamp(bucket) + pd.Timedelta(minutes=15)
    recent = history[(history.index >= end - pd.Timedelta(hours=48)) & (history.index < end)]
    week = history[
        (history.index >= end - pd.Timedelta(hours=48 + 168)) & (history.index < end - pd.Timedelta(hours=168))
    ]
    figure = go.Figure()
    if "lower" in recent and recent["lower"].notna().any():
        figure.add_trace(
            go.Scatter(
                x=recent.index, y=recent["upper"], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
            )
        )
        figure.add_trace(
            go.Scatter(
                x=recent.index,
                y=recent["lower"],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(37,99,235,0.15)",
                name=TEXTS.word("band", lang),
            )
        )
    if "expected" in recent:
        figure.add_trace(
            go.Scatter(
                x=recent.index,
                y=recent["expected"],
                mode="lines",
                name=TEXTS.word("expected", lang),
                line={"dash": "dash", "color": "#2563eb"},
            )
        )
    figure.add_trace(
        go.Scatter(
            x=week.index + pd.Timedelta(days=7),
            y=week["value"],
            mode="lines",
            name=TEXTS.word("week_before", lang),
            line={"dash": "dot", "color": "#9ca3af"},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=recent.index,
            y=recent["value"],
            mode="lines",
            name=TEXTS.word("actual", lang),
            line={"width": 3, "color": "#dc2626"},
        )
    )
    figure.add_vrect(x0=pd.Timestamp(bucket), x1=end, fillcolor="rgba(220,38,38,0.15)", line_width=0)
    apply_style(figure, TEXTS.text("chart_title", lang, metric=metric, slice=slice_label), width=1100, height=550)
    figure.update_yaxes(rangemode="tozero", tickformat=".3f" if _is_ratio(metric) else ",~r")
    return figure
