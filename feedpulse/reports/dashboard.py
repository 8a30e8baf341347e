"""The monitoring dashboard: one self-contained interactive HTML file (plotly, no server).

Panels: DAU/WAU/MAU; audience by day split into both / feed only / messenger only; new users by
source; views, likes, CTR; messenger DAU and messages; and a 15-minute "latest day vs a week
before" panel. Reports and alerts link to it (``FEEDPULSE_DASHBOARD_URL``, default the file).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from feedpulse.charts import apply_style
from feedpulse.config import DEFAULT_SOURCE_DATABASE, feedpulse_home, settings
from feedpulse.reports.data import ANALYTICS_DATABASE, identifier

ACTIVE_WINDOW_DAYS = 30


def dashboard_path() -> Path:
    return feedpulse_home() / "dashboard" / "index.html"


def dashboard_url() -> str:
    """Where reports and alerts point: FEEDPULSE_DASHBOARD_URL, or the local file."""
    return settings().dashboard_url or dashboard_path().as_uri()


@dataclass
class DashboardData:
    daily: pd.DataFrame  # app_daily_metrics, one row per day
    active: pd.DataFrame  # day, dau, wau, mau
    quarter_hours: pd.DataFrame  # slot (minutes from midnight), series ('latest'/'week_before'), users, views, ...
    latest_day: dt.date | None


def load(client, analytics: str = ANALYTICS_DATABASE, source: str = DEFAULT_SOURCE_DATABASE) -> DashboardData:
    analytics, source = identifier(analytics), identifier(source)
    daily = client.query_df(f"SELECT * FROM {analytics}.app_daily_metrics ORDER BY event_date")
    if daily.empty:
        raise RuntimeError(f"{analytics}.app_daily_metrics is empty: run the daily ETL first")
    active = client.query_df(
        "SELECT day, uniqIf(user_id, day = event_date) AS dau, uniqIf(user_id, day - event_date < 7) AS wau, "
        "uniq(user_id) AS mau FROM ("
        f"  SELECT user_id, event_date, event_date + arrayJoin(range({ACTIVE_WINDOW_DAYS})) AS day"
        f"  FROM {analytics}.user_daily WHERE is_feed_user OR is_messenger_user"
        f") WHERE day <= (SELECT max(event_date) FROM {analytics}.user_daily) GROUP BY day ORDER BY day"
    )
    latest = client.command(f"SELECT toString(max(toDate(time))) FROM {source}.feed_actions WHERE time <= now()")
    latest_day = dt.date.fromisoformat(latest) if latest and latest != "1970-01-01" else None
    quarter_hours = _quarter_hours(client, source, latest_day) if latest_day else pd.DataFrame()
    return DashboardData(daily=daily, active=active, quarter_hours=quarter_hours, latest_day=latest_day)


def _quarter_hours(client, source: str, day: dt.date) -> pd.DataFrame:
    query = (
        "WITH feed AS ("
        "  SELECT {label:String} AS series, toStartOfFifteenMinutes(time) AS bucket, uniqExact(user_id) AS feed_users,"
        "         countIf(action = 'view') AS views, countIf(action = 'like') AS likes"
        f"  FROM {source}.feed_actions WHERE toDate(time) = {{day:Date}} GROUP BY bucket),"
        " messages AS ("
        "  SELECT toStartOfFifteenMinutes(time) AS bucket, uniqExact(user_id) AS messenger_users, count() AS messages"
        f"  FROM {source}.message_actions WHERE toDate(time) = {{day:Date}} GROUP BY bucket)"
        " SELECT series, (toHour(bucket) * 60 + toMinute(bucket)) AS slot, feed_users, views, likes,"
        "        messenger_users, messages"
        " FROM feed LEFT JOIN messages USING (bucket) ORDER BY slot"
    )
    frames = [
        client.query_df(query, parameters={"day": d, "label": label})
        for label, d in (("latest", day), ("week_before", day - dt.timedelta(days=7)))
    ]
    return pd.concat(frames, ignore_index=True)


def figures(data: DashboardData) -> list[tuple[str, go.Figure]]:
    daily, days = data.daily, list(pd.to_datetime(data.daily["event_date"]))
    out: list[tuple[str, go.Figure]] = []

    active = go.Figure()
    active_days = pd.to_datetime(data.active["day"])
    for column, name, window in (("dau", "DAU", 1), ("wau", "WAU", 7), ("mau", "MAU", ACTIVE_WINDOW_DAYS)):
        # A rolling window that reaches before the first day of history would undercount: leave it out.
        complete = active_days >= active_days.min() + pd.Timedelta(days=window - 1)
        active.add_trace(
            go.Scatter(x=list(active_days[complete]), y=data.active[column][complete], name=name, mode="lines")
        )
    out.append(("active", apply_style(active, "Active users: DAU / WAU / MAU (rolling 7 and 30 days)", height=450)))

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

    feed = make_subplots(rows=1, cols=3, subplot_titles=["Views", "Likes", "CTR"])
    for i, column in enumerate(("views", "likes", "ctr")):
        feed.add_trace(go.Scatter(x=days, y=daily[column], mode="lines", showlegend=False), row=1, col=i + 1)
    apply_style(feed, "Feed: views, likes, CTR", height=400)
    feed.update_yaxes(rangemode="normal")
    out.append(("feed", feed))

    messenger = make_subplots(rows=1, cols=2, subplot_titles=["Messenger DAU", "Messages"])
    for i, column in enumerate(("messenger_dau", "messages")):
        messenger.add_trace(go.Scatter(x=days, y=daily[column], mode="lines", showlegend=False), row=1, col=i + 1)
    out.append(("messenger", apply_style(messenger, "Messenger: senders and messages", height=400)))

    if not data.quarter_hours.empty and data.latest_day is not None:
        out.append(("today", _quarter_hour_figure(data)))
    return out


def _quarter_hour_figure(data: DashboardData) -> go.Figure:
    metrics = ["feed_users", "views", "likes", "messages"]
    figure = make_subplots(
        rows=2, cols=2, subplot_titles=["Feed users", "Views", "Likes", "Messages"], vertical_spacing=0.15
    )
    names = {"latest": str(data.latest_day), "week_before": str(data.latest_day - dt.timedelta(days=7))}
    for series, dash in (("latest", "solid"), ("week_before", "dot")):
        part = data.quarter_hours[data.quarter_hours["series"] == series]
        times = [f"{int(s) // 60:02d}:{int(s) % 60:02d}" for s in part["slot"]]
        for i, metric in enumerate(metrics):
            figure.add_trace(
                go.Scatter(
                    x=times,
                    y=part[metric],
                    mode="lines",
                    name=names[series],
                    legendgroup=series,
                    showlegend=i == 0,
                    line={"dash": dash},
                ),
                row=i // 2 + 1,
                col=i % 2 + 1,
            )
    return apply_style(figure, f"Per 15 minutes: {data.latest_day} vs a week before", height=700)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>feedpulse dashboard</title>
<style>
 body {{ font-family: DejaVu Sans, Arial, sans-serif; margin: 0; background: #f8fafc; color: #0f172a; }}
 header {{ padding: 16px 24px; background: #1e293b; color: #f8fafc; }}
 header p {{ margin: 4px 0 0; color: #cbd5e1; font-size: 14px; }}
 main {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(620px, 1fr)); gap: 16px; padding: 16px; }}
 section {{ background: white; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 8px; }}
</style></head>
<body><header><h1>feedpulse — app monitoring</h1><p>{subtitle}</p></header>
<main>
{sections}
</main></body></html>
"""


def render_html(data: DashboardData, generated_at: dt.datetime | None = None) -> str:
    generated_at = generated_at or dt.datetime.now()
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
    subtitle = html.escape(f"days {first} … {last}; generated {generated_at:%Y-%m-%d %H:%M}")
    return PAGE.format(subtitle=subtitle, sections="\n".join(sections))


def write(data: DashboardData, path: Path | None = None) -> Path:
    path = path or dashboard_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_html(data), encoding="utf-8")
    tmp.replace(path)
    return path
