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
from feedpulse.reports.data import DailySeries, WholePeriod, relative_change
from feedpulse.reports.texts import metric, text
from feedpulse.telegram.messages import bold, escape, italic, link

WEEK = 7
COMPARE_APP = {"day": 1, "week": 7, "month": 30}
COMPARE_FEED = {"day": 1, "week": 7}
RATIO_METRICS = {"ctr": 4, "likes_per_user": 2, "messages_per_user": 2}


@dataclass
class ReportContent:
    """What a report says: Telegram HTML text, its figures and the numbers it was built from."""

    name: str
    day: dt.date
    html: str
    figures: list[tuple[str, go.Figure, str]] = field(default_factory=list)  # (file name, figure, caption)
    numbers: dict[str, float | None] = field(default_factory=dict)


def fmt_value(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    return number(value, RATIO_METRICS.get(key, 0))


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
) -> ReportContent:
    """``why``: figure → a "why" line shown under it (see :func:`feedpulse.reports.why.why_lines`)."""
    day = series.day
    lines = [
        bold(text("feed_title", lang, day=_day(day))),
        italic(_feed_changes_note(day, lang)),
        "",
        *(_line(series, key, lang, COMPARE_FEED, why=why) for key in ("dau", "views", "likes", "ctr")),
    ]
    week = series.last_days(WEEK)
    caption = text("chart_feed_caption", lang, first=_day(week.index.min()), last=_day(day))
    return ReportContent(
        name="feed_report",
        day=day,
        html="\n".join(lines) + _link(dashboard_url, lang),
        figures=[("feed_week.png", feed_chart(series, lang), caption)],
        numbers={key: series.value(key, day) for key in ("dau", "views", "likes", "ctr")},
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


def app_report(
    series: DailySeries,
    lang: Lang = DEFAULT_LANG,
    dashboard_url: str | None = None,
    why: Mapping[str, str] | None = None,
    whole: WholePeriod | None = None,
) -> ReportContent:
    """``why``: figure → a "why" line shown under it (see :func:`feedpulse.reports.why.why_lines`);
    ``whole``: the product's life up to the day (a last section; left out when None)."""
    day = series.day
    ios, android = series.value("app_dau_ios", day), series.value("app_dau_android", day)
    ads, organic = series.value("new_users_ads", day), series.value("new_users_organic", day)
    platform = f"(iOS {fmt_value('app_dau_ios', ios)}, Android {fmt_value('app_dau_android', android)})"
    sources = (
        f"({metric('new_users_ads', lang)} {fmt_value('new_users_ads', ads)}, "
        f"{metric('new_users_organic', lang)} {fmt_value('new_users_organic', organic)})"
    )
    compare = COMPARE_APP
    lines = [
        bold(text("app_title", lang, day=_day(day))),
        italic(text("changes_app", lang)),
        "",
        bold(text("section_audience", lang)),
        _line(series, "app_dau", lang, compare, detail=platform),
        _line(series, "feed_only_users", lang, compare),
        _line(series, "messenger_only_users", lang, compare),
        _line(series, "both_users", lang, compare),
        _line(series, "new_users", lang, compare, detail=sources),
        "",
        bold(text("section_feed", lang)),
        *(_line(series, k, lang, compare, why=why) for k in ("feed_dau", "views", "likes", "ctr", "likes_per_user")),
        "",
        bold(text("section_messenger", lang)),
        *(_line(series, key, lang, compare, why=why) for key in ("messenger_dau", "messages", "messages_per_user")),
    ]
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
            ("feed.png", app_feed_chart(series, lang), caption),
            ("messenger.png", messenger_chart(series, lang), caption),
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
        figure.add_trace(go.Bar(x=list(week.index), y=week[key], name=metric(key, lang)))
    figure.update_layout(barmode="stack")
    apply_style(figure, f"{text('section_audience', lang)}: {metric('app_dau', lang)}")
    figure.update_xaxes(tickformat="%d.%m", dtick=86400000)
    return figure


def platforms_chart(series: DailySeries, lang: Lang = DEFAULT_LANG) -> go.Figure:
    week = series.last_days(WEEK)
    figure = make_subplots(rows=1, cols=2, subplot_titles=[metric("app_dau", lang), metric("new_users", lang)])
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
    apply_style(figure, f"{metric('app_dau', lang)} iOS / Android · {metric('new_users', lang)}")
    figure.update_xaxes(tickformat="%d.%m", dtick=86400000)
    return figure


def _metric_grid(
    series: DailySeries, keys: list[str], lang: Lang, title: str, cols: int = 2, width: int = 1000, height: int = 800
) -> go.Figure:
    """One line chart per metric over the week, in a grid (CTR with three decimals)."""
    week = series.last_days(WEEK)
    rows = -(-len(keys) // cols)
    figure = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[metric(k, lang) for k in keys],
        vertical_spacing=0.16,
        horizontal_spacing=0.1,
    )
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
        if key == "ctr":
            figure.update_yaxes(tickformat=".3f", **position)
    apply_style(figure, title, width=width, height=height)
    figure.update_yaxes(rangemode="normal")
    figure.update_xaxes(tickformat="%d.%m", dtick=86400000)
    return figure


def feed_chart(series: DailySeries, lang: Lang = DEFAULT_LANG) -> go.Figure:
    """A 2×2 grid of the week's DAU, views, likes and CTR (readable on a phone)."""
    title = _chart_title(text("feed_title", lang, day=_day(series.day)))
    return _metric_grid(series, ["dau", "views", "likes", "ctr"], lang, title)


def app_feed_chart(series: DailySeries, lang: Lang = DEFAULT_LANG) -> go.Figure:
    return _metric_grid(series, ["feed_dau", "views", "likes", "ctr"], lang, text("section_feed", lang))


def messenger_chart(series: DailySeries, lang: Lang = DEFAULT_LANG) -> go.Figure:
    return _metric_grid(
        series,
        ["messenger_dau", "messages", "messages_per_user"],
        lang,
        text("section_messenger", lang),
        cols=3,
        width=1200,
        height=500,
    )
