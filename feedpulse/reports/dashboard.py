"""The monitoring dashboard: one self-contained interactive HTML file (plotly, no server).

Panels: DAU/WAU/MAU (mart active_users_daily); audience by day split into both / feed only /
messenger only and new users by source (app_daily_metrics); one chart per metric whose definition
asks for the dashboard (feedpulse.metrics, from the metric layer's metrics_daily: a metric added
there appears here); and a 15-minute panel: today so far (up to
the last complete bucket) against the same day a week before, read from the alerts' modeled table
``analytics.metrics_15min``. "Today" and "now" come from one clock, the ClickHouse server's
(:func:`feedpulse.clickhouse.server_now`, the data's wall-clock time), which tests pin through
``load(now=...)``. Reports and alerts link to the page (``FEEDPULSE_DASHBOARD_URL``, default the file).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import feedpulse.alerts.metrics_table as metrics_table
from feedpulse.charts import apply_style
from feedpulse.charts.style import PALETTE
from feedpulse.clickhouse import server_now
from feedpulse.config import feedpulse_home, settings
from feedpulse.metrics import Metrics, definitions
from feedpulse.reports.data import ANALYTICS_DATABASE, identifier, load_metrics

ACTIVE_WINDOW_DAYS = 30


def dashboard_path() -> Path:
    return feedpulse_home() / "dashboard" / "index.html"


def dashboard_url() -> str:
    """Where reports and alerts point: FEEDPULSE_DASHBOARD_URL, or the local file."""
    return settings().dashboard_url or dashboard_path().as_uri()


BUCKET = dt.timedelta(minutes=15)
WEEK = dt.timedelta(days=7)
TODAY_COLOR, WEEK_BEFORE_COLOR = PALETTE[0], "#64748b"


@dataclass
class DashboardData:
    daily: pd.DataFrame  # app_daily_metrics, one row per day
    active: pd.DataFrame  # day, dau, wau, mau (active_users_daily)
    # One row per 15-minute bucket of today so far and of the same day a week before: series
    # ('today' / 'week_before'), bucket (its own time), at (that time of day on today's date, the
    # panel's x axis), feed_users, views, likes, ctr, messenger_users, messages.
    quarter_hours: pd.DataFrame
    now: dt.datetime  # the page's clock: the server's wall-clock time, the data's timezone
    metrics: pd.DataFrame | None = None  # metrics_daily totals: event_date + one column per dashboard metric
    quarter_hours_notes: tuple[str, ...] = ()  # why a 15-minute series is short or missing (shown on the panel)

    @property
    def today(self) -> dt.date:
        return self.now.date()


def load(
    client, analytics: str = ANALYTICS_DATABASE, *, now: dt.datetime | None = None, metrics: Metrics | None = None
) -> DashboardData:
    """The dashboard's data. ``now`` is the clock (default the ClickHouse server's, whose wall-clock
    time is the data's: "today" is the data's day whatever the timezone of this process)."""
    analytics = identifier(analytics)
    now = server_now(client) if now is None else now
    now = now.replace(tzinfo=None)  # an aware value keeps its wall clock, as bucket times do
    daily = client.query_df(f"SELECT * FROM {analytics}.app_daily_metrics ORDER BY event_date")
    if daily.empty:
        raise RuntimeError(f"{analytics}.app_daily_metrics is empty: run the daily ETL first")
    active = client.query_df(
        f"SELECT event_date AS day, dau, wau, mau, history_days FROM {analytics}.active_users_daily ORDER BY day"
    )
    names = [m.name for m in (metrics or definitions()).on_dashboard()]
    first, last = (pd.Timestamp(daily["event_date"].min()).date(), pd.Timestamp(daily["event_date"].max()).date())
    metric_frame = load_metrics(client, names, last, (last - first).days, analytics)
    quarter_hours, notes = _quarter_hours(client, analytics, now)
    return DashboardData(
        daily=daily,
        active=active,
        quarter_hours=quarter_hours,
        now=now,
        quarter_hours_notes=notes,
        metrics=metric_frame,
    )


def _floor_bucket(value: dt.datetime) -> dt.datetime:
    return value.replace(minute=value.minute - value.minute % 15, second=0, microsecond=0)


def _quarter_hours(client, analytics: str, now: dt.datetime) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Today's buckets that ended by ``now`` and the whole day a week before, from the alerts' modeled
    table ``metrics_15min`` (slice ``total``) — never from the raw events. Only buckets the table has
    computed are shown: past its last one nothing is drawn (a zero there would look like an outage)."""
    midnight = dt.datetime.combine(now.date(), dt.time())
    stored = metrics_table.stored_range(client, analytics)
    if stored is None:
        return pd.DataFrame(), (
            f"No 15-minute data yet: {analytics}.metrics_15min is missing or empty "
            "(Dagster's dashboard job, anomaly sensor and metrics_15min schedule fill it).",
        )
    first, last = stored
    computed_until = last + BUCKET
    notes: list[str] = []
    frames = []
    windows = (
        ("today", midnight, _floor_bucket(now)),  # the current bucket is still filling: left out
        ("week_before", midnight - WEEK, midnight - WEEK + dt.timedelta(days=1)),
    )
    for series, start, end in windows:
        shown_start, shown_end = max(start, first), min(end, computed_until)
        part = pd.DataFrame()
        if shown_start < shown_end:
            part = metrics_table.load(client, start=shown_start, end=shown_end, database=analytics, slices=())
        if part.empty or "total" not in part.index.get_level_values("slice"):
            day = "today" if series == "today" else f"{start:%Y-%m-%d} (a week before)"
            if series == "today" and end == midnight:
                notes.append(f"No complete 15-minute bucket today yet (the first ends at {midnight + BUCKET:%H:%M}).")
            elif shown_start >= shown_end:
                notes.append(
                    f"No 15-minute data for {day}: {analytics}.metrics_15min holds "
                    f"{first:%Y-%m-%d %H:%M} … {computed_until:%Y-%m-%d %H:%M}."
                )
            else:
                notes.append(f"No events {day} in {analytics}.metrics_15min.")
            continue
        if series == "today" and shown_end < end - BUCKET:  # the bucket that just ended may be computing
            notes.append(
                f"{analytics}.metrics_15min is computed up to {computed_until:%H:%M}: later buckets are not shown yet."
            )
        part = part.xs("total", level="slice").reset_index()
        part.insert(0, "series", series)
        part["at"] = part["bucket"] + (midnight - dt.datetime.combine(start.date(), dt.time()))
        frames.append(part)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame, tuple(notes)


def figures(data: DashboardData) -> list[tuple[str, go.Figure]]:
    daily, days = data.daily, list(pd.to_datetime(data.daily["event_date"]))
    out: list[tuple[str, go.Figure]] = []

    active = go.Figure()
    active_days = pd.to_datetime(data.active["day"])
    history = data.active["history_days"].astype(int)  # days of data in the 30-day window (mart active_users_daily)
    first_day = (active_days - pd.to_timedelta(history - 1, unit="D")).min()  # the first day of the data
    for (column, name, window), color in zip(
        (("dau", "DAU", 1), ("wau", "WAU", 7), ("mau", "MAU", ACTIVE_WINDOW_DAYS)), PALETTE, strict=False
    ):
        # A rolling window reaching before the first day of history counts only the days it has: drawn
        # dashed (not hidden — with less history than the window there would be no MAU at all).
        partial, complete = history <= window, history >= window  # sharing a point: one line
        for part, dash, label in ((partial, "dash", f"{name}, incomplete window"), (complete, "solid", name)):
            if not part.any() or (dash == "dash" and window == 1):
                continue
            active.add_trace(
                go.Scatter(
                    x=list(active_days[part]),
                    y=list(data.active[column][part]),
                    name=label,
                    legendgroup=name,
                    showlegend=dash == "solid" or not complete.any(),
                    mode="lines",
                    line={"color": color, "dash": dash},
                )
            )
    if (history < ACTIVE_WINDOW_DAYS).any():
        # One legend entry explains the dashes (a trace without points draws nothing).
        active.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                name=f"dashed: window not full yet (history starts {first_day:%Y-%m-%d})",
                mode="lines",
                line={"color": WEEK_BEFORE_COLOR, "dash": "dash"},
                hoverinfo="skip",
            )
        )
    apply_style(active, "Active users: DAU / WAU / MAU (rolling 7 and 30 days)", height=450)
    # The legend hangs down from under the axis: two rows of it growing upwards hid the dates.
    active.update_layout(legend={"yanchor": "top", "y": -0.2}, margin={"b": 110})
    out.append(("active", active))

    audience = go.Figure()
    for column, name in (
        ("both_users", "feed and messenger"),
        ("feed_only_users", "feed only"),
        ("messenger_only_users", "messenger only"),
    ):
        audience.add_trace(go.Scatter(x=days, y=daily[column], name=name, stackgroup="audience", mode="lines"))
    out.append(("audience", apply_style(audience, "Audience by day: both / feed only / messenger only", height=450)))

    new_users = go.Figure()
    # In the first week of history everyone looks new (first seen = first processed day): skip it.
    settled = [d >= min(days) + pd.Timedelta(days=7) for d in days]
    for column, name in (("new_users_ads", "ads"), ("new_users_organic", "organic")):
        settled_days = [d for d, ok in zip(days, settled, strict=True) if ok]
        new_users.add_trace(go.Bar(x=settled_days, y=daily[column][settled], name=name))
    new_users.update_layout(barmode="stack")
    out.append(("new_users", apply_style(new_users, "New users by source (first seen that day)", height=400)))

    if data.metrics is not None and len(data.metrics.columns) > 1:
        out.append(("metrics", _metrics_figure(data.metrics)))

    out.append(("today", _quarter_hour_figure(data)))
    return out


def _metrics_figure(frame: pd.DataFrame, metrics: Metrics | None = None) -> go.Figure:
    """One small chart per dashboard metric (its definition's title; ratios with three decimals)."""
    catalog = metrics or definitions()
    names = [column for column in frame.columns if column != "event_date"]
    cols = 3
    rows = -(-len(names) // cols)
    figure = make_subplots(
        rows=rows, cols=cols, subplot_titles=[catalog[n].label("en") for n in names], vertical_spacing=0.5 / rows
    )
    days = list(pd.to_datetime(frame["event_date"]))
    for i, name in enumerate(names):
        position = {"row": i // cols + 1, "col": i % cols + 1}
        figure.add_trace(go.Scatter(x=days, y=list(frame[name]), mode="lines", name=name, showlegend=False), **position)
        if catalog[name].type == "ratio":
            figure.update_yaxes(tickformat=".3f", **position)
    apply_style(figure, "Metrics by day (the metric layer: dbt_project.yml vars.metrics)", height=300 * rows + 100)
    figure.update_yaxes(rangemode="normal")
    return figure


def _quarter_hour_figure(data: DashboardData) -> go.Figure:
    metrics = ["feed_users", "views", "likes", "messages"]
    figure = make_subplots(
        rows=2, cols=2, subplot_titles=["Feed users", "Views", "Likes", "Messages"], vertical_spacing=0.15
    )
    midnight = dt.datetime.combine(data.today, dt.time())
    week_before = data.today - WEEK
    styles = {
        "today": (f"today, {data.today}", "solid", TODAY_COLOR),
        "week_before": (f"{week_before} (a week before)", "dot", WEEK_BEFORE_COLOR),
    }
    frame = data.quarter_hours
    until = None
    for series, (name, dash, color) in styles.items():
        part = frame[frame["series"] == series] if not frame.empty else frame
        if part.empty:
            continue
        if series == "today":
            until = part["bucket"].max() + BUCKET
        for i, metric in enumerate(metrics):
            figure.add_trace(
                go.Scatter(
                    x=list(part["at"]),
                    y=list(part[metric]),
                    mode="lines",
                    name=name,
                    legendgroup=series,
                    showlegend=i == 0,
                    line={"dash": dash, "color": color},
                ),
                row=i // 2 + 1,
                col=i % 2 + 1,
            )
    # The whole day on the axis: today's line stops at the last complete bucket, the week before goes on.
    figure.update_xaxes(range=[midnight, midnight + dt.timedelta(days=1)], tickformat="%H:%M", hoverformat="%H:%M")
    figure.add_vline(x=data.now, line={"color": "#94a3b8", "width": 1, "dash": "dash"}, row="all", col="all")
    if frame.empty:
        figure.add_annotation(
            text="no 15-minute data", xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 16}
        )
    so_far = f"until {until:%H:%M}" if until is not None else "no data yet"
    title = f"Today by 15 minutes: {data.today} {so_far}"
    if data.quarter_hours_notes:  # why a line is short or missing, where the reader looks first
        notes = " ".join(html.escape(note) for note in data.quarter_hours_notes)
        title += f"<br><span style='font-size:13px;color:#b45309'>{notes}</span>"
    apply_style(figure, title, height=700)
    figure.update_layout(margin={"t": 110})
    return figure


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>feedpulse dashboard</title>
<style>
 body {{ font-family: DejaVu Sans, Arial, sans-serif; margin: 0; background: #f8fafc; color: #0f172a; }}
 header {{ padding: 16px 24px; background: #1e293b; color: #f8fafc; }}
 header p {{ margin: 4px 0 0; color: #cbd5e1; font-size: 14px; }}
 main {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(min(620px, 100%), 1fr)); gap: 16px;
        padding: 16px; }}
 section {{ background: white; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 8px;
           min-width: 0; }}
</style></head>
<body><header><h1>feedpulse — app monitoring</h1><p>{subtitle}</p></header>
<main>
{sections}
</main>
<script>{script}</script>
</body></html>
"""

# Each chart is drawn while the page is still being parsed: the first one, alone in the grid, takes
# the whole width, and the columns settle only once the later panels exist. Plotly's "responsive"
# option re-measures on window resizes only, so that chart kept twice its column's width and its
# right half (the latest days) was cut off. Re-fit every chart whenever its box changes size.
RESIZE_SCRIPT = """
(function () {
  var observer = new ResizeObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.target._fullLayout) { Plotly.Plots.resize(entry.target); }
    });
  });
  document.querySelectorAll('.plotly-graph-div').forEach(function (chart) { observer.observe(chart); });
})();
"""


def render_html(data: DashboardData, generated_at: dt.datetime | None = None) -> str:
    generated_at = generated_at or data.now
    first, last = (
        pd.Timestamp(data.daily["event_date"].min()).date(),
        pd.Timestamp(data.daily["event_date"].max()).date(),
    )
    sections = []
    for i, (name, figure) in enumerate(figures(data)):
        figure.update_layout(width=None, autosize=True)
        body = figure.to_html(
            full_html=False,
            include_plotlyjs=(i == 0),
            div_id=f"chart-{name}",
            config={"responsive": True, "displaylogo": False},
        )
        sections.append(f'<section id="{name}">{body}</section>')
    subtitle = html.escape(f"days {first} … {last}; generated {generated_at:%Y-%m-%d %H:%M} (server time)")
    return PAGE.format(subtitle=subtitle, sections="\n".join(sections), script=RESIZE_SCRIPT)


def write(data: DashboardData, path: Path | None = None) -> Path:
    path = path or dashboard_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_html(data), encoding="utf-8")
    tmp.replace(path)
    return path
