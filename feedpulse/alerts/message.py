"""Alert messages (Telegram HTML, ru/en) and their chart: the last 48 h against the expected band
and the same hours a week before.

The text keeps the original template's facts — "Метрика {metric_name} в срезе {group}. Текущее
значение {current_x}. Отклонение более {x}%." — and adds the expected value and band, z, the
time window, links and the owner's @mention.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from feedpulse.charts import apply_style, number

TEXTS = {
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
    "header": {
        "firing": {"ru": "Аномалия", "en": "Anomaly"},
        "repeat": {"ru": "Всё ещё аномалия", "en": "Still firing"},
        "resolved": {"ru": "Норма", "en": "Resolved"},
    },
    "window": {"ru": "окно {start}–{end} {day}", "en": "window {start}–{end} {day}"},
    "since": {"ru": "с {start}", "en": "since {start}"},
    "dashboard": {"ru": "Дашборд", "en": "Dashboard"},
    "chart": {"ru": "График", "en": "Chart"},
    "chart_title": {"ru": "{metric} · {slice}: последние 48 ч", "en": "{metric} · {slice}: last 48 h"},
    "actual": {"ru": "факт", "en": "actual"},
    "expected": {"ru": "ожидание", "en": "expected"},
    "band": {"ru": "коридор", "en": "band"},
    "week_before": {"ru": "неделю назад", "en": "a week before"},
}
RATIO_METRICS = {"ctr"}


def fmt(metric: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return number(value, 4 if metric in RATIO_METRICS else 0)


def _t(key: str, lang: str, **values: object) -> str:
    return TEXTS[key][lang].format(**values)


def evaluation_line(evaluation, kind: str, lang: str) -> str:
    metric, esc = evaluation.metric, html.escape
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


def alert_html(
    notification, *, owners: Sequence[str] = (), links: Mapping[str, str] | None = None, lang: str = "ru"
) -> str:
    """One message for the metrics of one slice that changed state in the same bucket."""
    if lang not in ("ru", "en"):
        raise ValueError(f"alert language must be ru or en, got {lang!r}")
    bucket = notification.bucket
    end = bucket + dt.timedelta(minutes=15)
    header = TEXTS["header"][notification.kind][lang]
    window = _t("window", lang, start=f"{bucket:%H:%M}", end=f"{end:%H:%M}", day=f"{bucket:%d.%m.%Y}")
    lines = [f"<b>{html.escape(header)}</b> · {html.escape(notification.slice)} · {window}"]
    if notification.kind != "firing" and notification.started is not None:
        lines[0] += " · " + _t("since", lang, start=f"{notification.started:%d.%m %H:%M}")
    lines += [evaluation_line(e, notification.kind, lang) for e in notification.evaluations]
    link_parts = [
        f'<a href="{html.escape(url, quote=True)}">{html.escape(TEXTS[name][lang])}</a>'
        for name, url in (links or {}).items()
        if url and name in ("dashboard", "chart")
    ]
    if link_parts:
        lines.append(" · ".join(link_parts))
    mentions = sorted({o for o in owners if o})
    if mentions:
        lines.append(" ".join(html.escape(m) for m in mentions))
    return "\n".join(lines)


def alert_chart(
    history: pd.DataFrame, metric: str, slice_label: str, bucket: dt.datetime, lang: str = "ru"
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
                name=TEXTS["band"][lang],
            )
        )
    if "expected" in recent:
        figure.add_trace(
            go.Scatter(
                x=recent.index,
                y=recent["expected"],
                mode="lines",
                name=TEXTS["expected"][lang],
                line={"dash": "dash", "color": "#2563eb"},
            )
        )
    figure.add_trace(
        go.Scatter(
            x=week.index + pd.Timedelta(days=7),
            y=week["value"],
            mode="lines",
            name=TEXTS["week_before"][lang],
            line={"dash": "dot", "color": "#9ca3af"},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=recent.index,
            y=recent["value"],
            mode="lines",
            name=TEXTS["actual"][lang],
            line={"width": 3, "color": "#dc2626"},
        )
    )
    figure.add_vrect(x0=pd.Timestamp(bucket), x1=end, fillcolor="rgba(220,38,38,0.15)", line_width=0)
    apply_style(figure, TEXTS["chart_title"][lang].format(metric=metric, slice=slice_label), width=1100, height=550)
    figure.update_yaxes(rangemode="tozero", tickformat=".3f" if metric in RATIO_METRICS else ",~r")
    return figure
