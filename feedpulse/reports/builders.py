"""Feed report and app report: text (Telegram HTML) and charts for a day.

The text shows each figure of the day with its change against earlier days; the charts cover
the week that ends on the day. Everything is computed from :mod:`feedpulse.reports.data`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from feedpulse.charts import apply_style, number
from feedpulse.i18n import DEFAULT_LANG, Lang
from feedpulse.metrics import Metrics, definitions
from feedpulse.reports.data import DailySeries, WholePeriod, relative_change
from feedpulse.reports.texts import metric, text
from feedpulse.telegram.messages import bold, escape, italic, link

WEEK = 7
COMPARE_APP = {"day": 1, "week": 7, "month": 30}
COMPARE_FEED = {"day": 1, "week": 7}
# details shown next to an audience metric of the app report: its slices (columns of app_daily_metrics)
APP_DETAILS = {"app_users": ("app_dau_ios", "app_dau_android"), "new_users": ("new_users_ads", "new_users_organic")}


@dataclass
class ReportContent:
    """What a report says: Telegram HTML text, its figures and the numbers it was built from."""

    name: str
    day: dt.date
    html: str
    figures: list[tuple[str, go.Figure, str]] = field(default_factory=list)  # (file name, figure, caption)
    numbers: dict[str, float | None] = field(default_factory=dict)


def fmt_value(key: str, value: float | None) -> str:
    """A figure with its metric's decimals (feedpulse.metrics; slices and other counts: none)."""
    if value is None:
        return "—"
    catalog = definitions()
    return number(value, catalog[key].decimals if key in catalog else 0)


def fmt_change(change: float | None) -> str:
    if change is None:
        return "—"
    return f"{change * 100:+.1f}%".replace("-", "−")


def _day(value: dt.date) -> str:
    return value.strftime("%d.%m.%Y")


def _changes(series: DailySeries, key: str, compare: dict[str, int]) -> list[str]:
    current = series.value(key, series.day)
    return [
        fmt_change(relative_change(current, series.value(key, series.day - dt.timedelta(days=back))))
        for back in compare.values()
    ]


def _line(
    series: DailySeries,
    key: str,
    lang: Lang,
    compare: dict[str, int],
    label: str | None = None,
    detail: str = "",
    why: Mapping[str, str] | None = None,
) -> str:
    value = fmt_value(key, series.value(key, series.day))
    changes = _changes(series, key, compare)
    joined = " / ".join(changes) if len(changes) > 1 else changes[0]
    name = escape(label or metric(key, lang))
    extra = f" {escape(detail)}" if detail else ""
    line = f"{name}: <b>{value}</b>{extra} ({joined})"
    if why and why.get(key):
        line += f"\n{italic(why[key])}"
    return line


def _link(dashboard_url: str | None, lang: Lang) -> str:
    if not dashboard_url:
        return ""
    return f"\n\n{link(text('dashboard', lang), dashboard_url)}"


def _feed_changes_note(day: dt.date, lang: Lang) -> str:
    return text(
        "changes_feed", lang, prev_day=_day(day - dt.timedelta(days=1)), week_day=_day(day - dt.timedelta(days=7))
    )


def _chart_title(title: str) -> str:
    """Chart titles without emoji: the headless browser has no emoji font."""
    return "".join(ch for ch in title if ord(ch) < 0x2600).strip()


def feed_report(
    series: DailySeries,
    lang: Lang = DEFAULT_LANG,
    dashboard_url: str | None = None,
    why: Mapping[str, str] | None = None,
    metrics: Metrics | None = None,
) -> ReportContent:
    """``why``: figure → a "why" line shown under it (see :func:`feedpulse.reports.why.why_lines`).
    The lines: the metrics whose definition lists the feed report, in their order."""
    day = series.day
    keys = [m.name for m in (metrics or definitions()).in_report("feed")]
    lines = [
        bold(text("feed_title", lang, day=_day(day))),
        italic(_feed_changes_note(day, lang)),
        "",
        *(_line(series, key, lang, COMPARE_FEED, why=why) for key in keys),
    ]
    week = series.last_days(WEEK)
    caption = text("chart_feed_caption", lang, first=_day(week.index.min()), last=_day(day))
    return ReportContent(
        name="feed_report",
        day=day,
        html="\n".join(lines) + _link(dashboard_url, lang),
        figures=[("feed_week.png", feed_chart(series, lang, keys), caption)],
        numbers={key: series.value(key, day) for key in keys},
    )


def whole_period_lines(whole: WholePeriod, day: dt.date, lang: Lang = DEFAULT_LANG) -> list[str]:
    """The app report's "whole period" section: users ever, the week's lifecycle, recent retention."""

    def share(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f} %"

    week_first = day - dt.timedelta(days=WEEK - 1)
    return [
        bold(text("section_whole", lang, first=_day(whole.first_day))),
        text("whole_users", lang, users=number(whole.users_ever, 0)),
        text(
            "whole_week",
            lang,
            first=_day(week_first),
            last=_day(day),
            active=number(whole.week_active, 0),
            new=number(whole.week_new, 0),
            retained=number(whole.week_retained, 0),
            returning=number(whole.week_returning, 0),
            gone=number(whole.week_gone, 0),
        ),
        text(
            "whole_retention",
            lang,
            d1=share(whole.retention_d1),
            c1=_day(day - dt.timedelta(days=1)),
            d7=share(whole.retention_d7),
            c7=_day(day - dt.timedelta(days=7)),
        ),
    ]


def app_sections(metrics: Metrics) -> dict[str, list[str]]:
    """The app report's metrics (definitions listing the app report) by section: audience (users
    metrics of the whole app), feed and messenger (by the events they count)."""
    sections: dict[str, list[str]] = {"audience": [], "feed": [], "messenger": []}
    for entry in metrics.in_report("app"):
        source = metrics.source_of(entry.name)
        sections["feed" if source == "feed" else "messenger" if source == "messages" else "audience"].append(entry.name)
    return sections


def _details(series: DailySeries, key: str, lang: Lang) -> str:
    """«(iOS 1 234, Android 2 345)»: an audience metric's slices, when the report shows them."""
    parts = [column for column in APP_DETAILS.get(key, ()) if column in series.frame.columns]
    if not parts:
        return ""
    return "(" + ", ".join(f"{metric(c, lang)} {fmt_value(c, series.value(c, series.day))}" for c in parts) + ")"


def app_report(
    series: DailySeries,
    lang: Lang = DEFAULT_LANG,
    dashboard_url: str | None = None,
    why: Mapping[str, str] | None = None,
    whole: WholePeriod | None = None,
    metrics: Metrics | None = None,
) -> ReportContent:
    """``why``: figure → a "why" line shown under it (see :func:`feedpulse.reports.why.why_lines`);
    ``whole``: the product's life up to the day (a last section; left out when None)."""
    day = series.day
    sections = app_sections(metrics or definitions())
    compare = COMPARE_APP
    lines = [
        bold(text("app_title", lang, day=_day(day))),
        italic(text("changes_app", lang)),
    ]
    for section, keys in sections.items():
        if keys:
            lines += ["", bold(text(f"section_{section}", lang))]
            lines += [_line(series, key, lang, compare, detail=_details(series, key, lang), why=why) for key in keys]
    if whole is not None:
        lines += ["", *whole_period_lines(whole, day, lang)]
    week = series.last_days(WEEK)
    caption = text("chart_app_caption", lang, first=_day(week.index.min()), last=_day(day))
    return ReportContent(
        name="app_report",
        day=day,
        html="\n".join(lines) + _link(dashboard_url, lang),
        figures=[
            ("audience.png", audience_chart(series, lang), caption),
            ("platforms_new_users.png", platforms_chart(series, lang), caption),
            ("feed.png", app_feed_chart(series, lang, sections["feed"]), caption),
            ("messenger.png", messenger_chart(series, lang, sections["messenger"]), caption),
        ],
        numbers={
            **{key: series.value(key, day) for key in series.frame.columns},
            **(
                {
                    "users_ever": whole.users_ever,
                    "week_active": whole.week_active,
                    "week_new": whole.week_new,
                    "week_retained": whole.week_retained,
                    "week_returning": whole.week_returning,
                    "week_gone": whole.week_gone,
                    "retention_d1": whole.retention_d1,
                    "retention_d7": whole.retention_d7,
                }
                if whole
                else {}
            ),
        },
    )


def audience_chart(series: DailySeries, lang: Lang = DEFAULT_LANG) -> go.Figure:
    week = series.last_days(WEEK)
    figure = go.Figure()
    for key in ("feed_only_users", "both_users", "messenger_only_users"):
        if key in week.columns:
            figure.add_trace(go.Bar(x=list(week.index), y=week[key], name=metric(key, lang)))
    figure.update_layout(barmode="stack")
    apply_style(figure, f"{text('section_audience', lang)}: {metric('app_users', lang)}")
    figure.update_xaxes(tickformat="%d.%m", dtick=86400000)
    return figure


def platforms_chart(series: DailySeries, lang: Lang = DEFAULT_LANG) -> go.Figure:
    week = series.last_days(WEEK)
    figure = make_subplots(rows=1, cols=2, subplot_titles=[metric("app_users", lang), metric("new_users", lang)])
    for key in ("app_dau_ios", "app_dau_android"):
        figure.add_trace(
            go.Scatter(
                x=list(week.index), y=week[key], mode="lines+markers", name=metric(key, lang), line={"width": 3}
            ),
            row=1,
            col=1,
        )
    for key in ("new_users_ads", "new_users_organic"):
        figure.add_trace(go.Bar(x=list(week.index), y=week[key], name=metric(key, lang)), row=1, col=2)
    figure.update_layout(barmode="stack")
    apply_style(figure, f"{metric('app_users', lang)} iOS / Android · {metric('new_users', lang)}")
    figure.update_xaxes(tickformat="%d.%m", dtick=86400000)
    return figure


def _metric_grid(
    series: DailySeries, keys: list[str], lang: Lang, title: str, cols: int = 2, width: int = 1000, height: int = 800
) -> go.Figure:
    """One line chart per metric over the week, in a grid (ratios with three decimals)."""
    week = series.last_days(WEEK)
    rows = -(-len(keys) // cols)
    figure = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[metric(k, lang) for k in keys],
        vertical_spacing=0.16,
        horizontal_spacing=0.1,
    )
    catalog = definitions()
    for i, key in enumerate(keys):
        position = {"row": i // cols + 1, "col": i % cols + 1}
        figure.add_trace(
            go.Scatter(
                x=list(week.index),
                y=week[key],
                mode="lines+markers",
                name=metric(key, lang),
                line={"width": 3},
                showlegend=False,
            ),
            **position,
        )
        if key in catalog and catalog[key].type == "ratio":
            figure.update_yaxes(tickformat=".3f", **position)
    apply_style(figure, title, width=width, height=height)
    figure.update_yaxes(rangemode="normal")
    figure.update_xaxes(tickformat="%d.%m", dtick=86400000)
    return figure


def feed_chart(series: DailySeries, lang: Lang = DEFAULT_LANG, keys: list[str] | None = None) -> go.Figure:
    """A grid of the week's feed report metrics (2×2 for DAU, views, likes, CTR: readable on a phone)."""
    title = _chart_title(text("feed_title", lang, day=_day(series.day)))
    keys = keys or [m.name for m in definitions().in_report("feed")]
    return _metric_grid(series, keys, lang, title)


def app_feed_chart(series: DailySeries, lang: Lang = DEFAULT_LANG, keys: list[str] | None = None) -> go.Figure:
    keys = keys or app_sections(definitions())["feed"]
    return _metric_grid(series, keys, lang, text("section_feed", lang))


def messenger_chart(series: DailySeries, lang: Lang = DEFAULT_LANG, keys: list[str] | None = None) -> go.Figure:
    keys = keys or app_sections(definitions())["messenger"]
    return _metric_grid(
        series,
        keys,
        lang,
        text("section_messenger", lang),
        cols=min(3, max(1, len(keys))),
        width=1200,
        height=500 * -(-len(keys) // 3),
    )
