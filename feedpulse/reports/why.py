"""The daily reports' "why" lines: for a figure that moved more than a threshold day over day, the
segment that explains the move (:mod:`feedpulse.alerts.explain` on the day's cells against the
previous day's, read from the raw event tables with query parameters)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from feedpulse.alerts.explain import Explanation, explain
from feedpulse.alerts.segments import FEED_METRICS, MESSAGE_METRICS, load_cells, table_of
from feedpulse.i18n import Lang
from feedpulse.reports.data import DailySeries, relative_change
from feedpulse.reports.texts import text

# report figures (metric names) the segment cells can explain; the others (e.g. app_users) get no line
FIGURES = (*FEED_METRICS, *MESSAGE_METRICS, "ctr")


def moved(series: DailySeries, threshold: float) -> list[str]:
    """Figures of ``series`` with a cells metric whose |change| against the previous day exceeds ``threshold``."""
    day, before = series.day, series.day - dt.timedelta(days=1)
    out = []
    for key in series.frame.columns:
        change = relative_change(series.value(key, day), series.value(key, before))
        if key in FIGURES and change is not None and abs(change) > threshold:
            out.append(key)
    return out


def line(explanation: Explanation, lang: Lang) -> str | None:
    """«↳ почему: Android · source=ads — 78 % изменения (−64 % в сегменте)» (the top segment), or None."""
    if not explanation.segments:
        return None
    if explanation.uniform:
        return text("why_uniform", lang)
    top = explanation.segments[0]
    change = "∞" if math.isinf(top.change) else f"{top.change * 100:+.0f}".replace("-", "−")
    return text("why", lang, segment=top.label(), share=f"{top.share * 100:.0f}", change=change)


def why_lines(client: Any, series: DailySeries, *, source: str, threshold: float, lang: Lang) -> dict[str, str]:
    """figure → its "why" line, for every figure that moved more than ``threshold`` day over day."""
    keys = moved(series, threshold)
    start = dt.datetime.combine(series.day, dt.time())
    cells: dict[str, Any] = {}
    out = {}
    for metric in keys:
        table = table_of(metric)
        if table not in cells:
            cells[table] = load_cells(client, metric, start, source=source, days=1, halfwidth=0, width_buckets=96,
                                      users_per="day")  # fmt: skip
        current, baseline = cells[table]
        text_line = line(explain(current, baseline, metric), lang)
        if text_line:
            out[metric] = text_line
    return out
