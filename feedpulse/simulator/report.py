"""Measured magnitudes of simulated data next to the published targets (docs/architecture.md).

Every figure is aggregated in ClickHouse over ``[start, start + days)``; counts are compared with
``target × scale`` and a ±10 % range unless the figure states its own range. ``measure`` and
``measure_shape`` (per-user shape of each complete week next to the real app's, issue 20) are what
``feedpulse simulate --report`` prints.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from typing import Any

from feedpulse.config import DEFAULT_SOURCE_DATABASE
from feedpulse.simulator.model import AGE_BUCKETS, SHAPE_GROUPS, SHAPE_TARGETS, SHAPE_TOLERANCE
from feedpulse.simulator.run import incomplete_days
from feedpulse.simulator.sql import quote_ident

NIGHT_BUCKET = "04:00"  # the night 15-minute bucket [04:00, 04:15)
PEAK_BUCKET = "19:00"
WARMUP_DAYS = 14  # "new user" = first event in the range, counted only after this many days


@dataclass(frozen=True)
class ReportRow:
    figure: str
    measured: float
    target: float
    low: float
    high: float
    ok: bool
    checked: bool = True  # False: shown for reference, not a target (the row says why)


@dataclass(frozen=True)
class ShapeRow:
    """One per-user shape figure: the real app's value, its ±20 % range and each complete week's value."""

    figure: str
    real: float
    low: float
    high: float
    weeks: tuple[float, ...]

    @property
    def ok(self) -> bool:
        return bool(self.weeks) and all(self.low <= w <= self.high for w in self.weeks)

    @property
    def mean(self) -> float:
        return sum(self.weeks) / len(self.weeks) if self.weeks else float("nan")

    @property
    def worst(self) -> float:
        """The week farthest from the real value (relative)."""
        return max(self.weeks, key=lambda w: abs(w / self.real - 1)) if self.weeks else float("nan")


def _row(figure: str, measured: float | None, target: float, low: float, high: float) -> ReportRow:
    value = float("nan") if measured is None else float(measured)
    ok = not math.isnan(value) and low <= value <= high
    return ReportRow(figure, value, target, low, high, ok)


def _count(figure: str, measured: float | None, target: float, scale: float, rel: float = 0.10) -> ReportRow:
    t = target * scale
    return _row(figure, measured, t, t * (1 - rel), t * (1 + rel))


def _one(client: Any, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(client.query(sql, parameters=params).result_rows[0])


def _daily(client: Any, db: str, p: dict[str, Any]) -> tuple[Any, ...]:
    """Daily means: app/feed/messenger/both DAU, views, likes, CTR, messages."""
    return _one(
        client,
        f"""
WITH feed AS (
    SELECT toDate(time) AS day, user_id, countIf(action = 'view') AS views, countIf(action = 'like') AS likes
    FROM {db}.feed_actions WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}
    GROUP BY day, user_id
), msg AS (
    SELECT toDate(time) AS day, user_id, count() AS messages
    FROM {db}.message_actions WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}
    GROUP BY day, user_id
), per_day AS (
    SELECT day, count() AS app, countIf(in_feed) AS feed_users,
        countIf(in_msg) AS msg_users, countIf(in_feed AND in_msg) AS both_users,
        sum(views) AS views, sum(likes) AS likes, sum(messages) AS messages
    FROM (
        SELECT if(f.day = toDate(0), m.day, f.day) AS day, if(f.user_id = 0, m.user_id, f.user_id) AS user_id,
            f.user_id != 0 AS in_feed, m.user_id != 0 AS in_msg, f.views AS views, f.likes AS likes,
            m.messages AS messages
        FROM feed AS f FULL OUTER JOIN msg AS m ON f.day = m.day AND f.user_id = m.user_id
        SETTINGS join_use_nulls = 0
    )
    GROUP BY day
)
SELECT avg(app), avg(feed_users), avg(msg_users), avg(both_users), avg(views), avg(likes),
    sum(likes) / sum(views), avg(messages), avg(messages / msg_users), max(wd) / min(wd)
FROM per_day
LEFT JOIN (SELECT toDayOfWeek(day) AS dow, avg(msg_users) AS wd FROM per_day GROUP BY dow) AS w
    ON toDayOfWeek(per_day.day) = w.dow
""",
        p,
    )


def _users(client: Any, db: str, p: dict[str, Any]) -> tuple[Any, ...]:
    """Distinct-user shares (iOS, age buckets) and the gender-1 share of actions."""
    cases = ", ".join(f"avg(age BETWEEN {lo} AND {hi})" for lo, hi, _ in AGE_BUCKETS)
    return _one(
        client,
        f"""
SELECT avg(os = 'iOS'), {cases}, (SELECT avg(gender = 1) FROM (
        SELECT gender FROM {db}.feed_actions WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}
        UNION ALL
        SELECT gender FROM {db}.message_actions WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}))
FROM (
    SELECT user_id, any(os) AS os, any(age) AS age FROM (
        SELECT user_id, os, age FROM {db}.feed_actions
        WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}
        UNION ALL
        SELECT user_id, os, age FROM {db}.message_actions
        WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}
    ) GROUP BY user_id
)""",
        p,
    )


def _new_users(client: Any, db: str, p: dict[str, Any]) -> tuple[Any, ...]:
    """New users per day (first event in the range after the warm-up) and their ads share."""
    return _one(
        client,
        f"""
SELECT count() / {{n:UInt32}}, avg(source = 'ads') FROM (
    SELECT user_id, min(time) AS first, argMin(source, time) AS source FROM (
        SELECT user_id, time, source FROM {db}.feed_actions
        WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}
        UNION ALL
        SELECT user_id, time, source FROM {db}.message_actions
        WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}
    ) GROUP BY user_id
) WHERE toDate(first) >= {{w:Date}}""",
        p,
    )


def _intraday(client: Any, db: str, p: dict[str, Any]) -> tuple[Any, ...]:
    """Mean per day of the 15-minute figures at the night and peak buckets."""
    return _one(
        client,
        f"""
SELECT
    (SELECT uniqExactIf((toDate(time), user_id),
            toStartOfFifteenMinutes(time) = toDateTime(toDate(time)) + {{night:UInt32}})
        FROM {db}.feed_actions WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}) / {{days:UInt32}},
    (SELECT uniqExactIf((toDate(time), user_id),
            toStartOfFifteenMinutes(time) = toDateTime(toDate(time)) + {{peak:UInt32}})
        FROM {db}.feed_actions WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}) / {{days:UInt32}},
    (SELECT uniqExactIf((toDate(time), user_id),
            toStartOfFifteenMinutes(time) = toDateTime(toDate(time)) + {{night:UInt32}})
        FROM {db}.message_actions WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}) / {{days:UInt32}},
    (SELECT countIf(toStartOfFifteenMinutes(time) = toDateTime(toDate(time)) + {{night:UInt32}})
        FROM {db}.message_actions WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}) / {{days:UInt32}}
""",
        p,
    )


def _weekly(client: Any, db: str, p: dict[str, Any]) -> tuple[Any, ...]:
    """Per complete 7-day block from ``start``: median views per user, user CTR, users per group."""
    return _one(
        client,
        f"""
WITH weeks AS (
    SELECT intDiv(toDate(time) - {{a:Date}}, 7) AS week, user_id, countIf(action = 'view') AS views,
        countIf(action = 'like') AS likes
    FROM {db}.feed_actions WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{wb:Date}}
    GROUP BY week, user_id
), groups AS (
    SELECT week, exp_group, uniqExact(user_id) AS users FROM (
        SELECT intDiv(toDate(time) - {{a:Date}}, 7) AS week, user_id, exp_group FROM {db}.feed_actions
        WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{wb:Date}}
        UNION ALL
        SELECT intDiv(toDate(time) - {{a:Date}}, 7) AS week, user_id, exp_group FROM {db}.message_actions
        WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{wb:Date}}
    ) GROUP BY week, exp_group
)
SELECT
    (SELECT avg(m) FROM (SELECT week, quantileExact(0.5)(views) AS m FROM weeks GROUP BY week)),
    (SELECT avg(m) FROM (SELECT week, avg(likes / views) AS m FROM weeks WHERE views > 0 GROUP BY week)),
    (SELECT avg(m) FROM (
        SELECT week, quantileExact(0.5)(likes / views) AS m FROM weeks WHERE views > 0 GROUP BY week)),
    (SELECT min(users) FROM groups),
    (SELECT max(users) FROM groups)
""",
        p,
    )


def _incomplete(client: Any, database: str, start: dt.date, end: dt.date) -> float:
    """Days of the range marked incomplete in ``simulated_days`` (a run was cut off); 0 without the table."""
    exists = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'simulated_days'",
        parameters={"db": database},
    ).result_rows[0][0]
    return float(len(incomplete_days(client, database, start, end))) if exists else 0.0


def _shape_weeks(client: Any, db: str, p: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per complete 7-day block: the SHAPE_TARGETS figures over users of the shape groups with ≥ 1 view."""
    return [
        tuple(r)
        for r in client.query(
            f"""
WITH users AS (
    SELECT intDiv(toDate(time) - {{a:Date}}, 7) AS week, user_id, countIf(action = 'view') AS views,
        countIf(action = 'like') AS likes
    FROM {db}.feed_actions
    WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{wb:Date}} AND has({{groups:Array(Int8)}}, exp_group)
    GROUP BY week, user_id
    HAVING views > 0
)
SELECT week,
    quantilesExact(0.1, 0.25, 0.5, 0.9, 0.99)(views) AS qv,
    quantilesExact(0.1, 0.25, 0.5, 0.9, 0.99)(likes) AS ql,
    stddevPop(likes / views), avg(likes = 0), avg(likes / views), sum(likes) / sum(views)
FROM users GROUP BY week ORDER BY week""",
            parameters=p,
        ).result_rows
    ]


def measure_shape(
    client: Any,
    *,
    start: dt.date,
    days: int,
    database: str = DEFAULT_SOURCE_DATABASE,
    groups: tuple[int, ...] = SHAPE_GROUPS,
) -> list[ShapeRow]:
    """Per-user shape of every complete week from ``start`` (users of ``groups`` with ≥ 1 view) vs the real app.

    Quantiles are ClickHouse's ``quantileExact`` (as :func:`feedpulse.simulator.model.exact_quantile`)."""
    weeks = days // 7
    per_week: list[dict[str, float]] = []
    if weeks == 0:
        return _shape_rows(per_week)
    p = {"a": start, "wb": start + dt.timedelta(days=7 * weeks), "groups": list(groups)}
    for _week, qv, ql, sd, no_like, ctr_mean, ctr_global in _shape_weeks(client, quote_ident(database), p):
        figures: dict[str, float] = {}
        for name, q in (("views", qv), ("likes", ql)):
            for level, value in zip((10, 25, 90, 99), (q[0], q[1], q[3], q[4]), strict=True):
                figures[f"{name} q{level} / median"] = float(value) / float(q[2]) if q[2] else float("nan")
        figures["user CTR standard deviation"] = float(sd)
        figures["users with views but no like"] = float(no_like)
        figures["mean user CTR"] = float(ctr_mean)
        figures["global CTR"] = float(ctr_global)
        per_week.append(figures)
    return _shape_rows(per_week)


def _shape_rows(per_week: list[dict[str, float]]) -> list[ShapeRow]:
    return [
        ShapeRow(k, v, v * (1 - SHAPE_TOLERANCE), v * (1 + SHAPE_TOLERANCE), tuple(w[k] for w in per_week))
        for k, v in SHAPE_TARGETS.items()
    ]


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 3600 + int(m) * 60


def measure(
    client: Any, *, start: dt.date, days: int, scale: float = 1.0, database: str = DEFAULT_SOURCE_DATABASE
) -> list[ReportRow]:
    """Measure the published magnitudes over ``[start, start + days)`` (figures per day are means)."""
    db = quote_ident(database)
    end = start + dt.timedelta(days=days)
    weeks = days // 7
    warmup = min(WARMUP_DAYS, days // 2)
    p = {
        "a": start, "b": end, "days": days, "n": max(1, days - warmup),
        "w": start + dt.timedelta(days=warmup), "wb": start + dt.timedelta(days=7 * max(weeks, 1)),
        "night": _minutes(NIGHT_BUCKET), "peak": _minutes(PEAK_BUCKET),
    }  # fmt: skip
    app, feed, msg, both, views, likes, ctr, messages, per_sender, cycle = _daily(client, db, p)
    ios, *ages, gender1 = _users(client, db, p)
    new, ads = _new_users(client, db, p)
    night_feed, peak_feed, night_msg_users, night_msgs = _intraday(client, db, p)
    median_views, ctr_mean, ctr_median, group_min, group_max = _weekly(client, db, p)
    rows = [
        _row("incomplete days (a run was cut off; re-run them)", _incomplete(client, database, start, end), 0, 0, 0),
        _count("app DAU", app, 20_600, scale),
        _count("feed DAU", feed, 18_700, scale),
        _count("messenger DAU (senders)", msg, 2_100, scale),
        _row("both services DAU", both, 275 * scale, 250 * 0.9 * scale, 300 * 1.1 * scale),
        _count("views/day", views, 740_000, scale),
        _count("likes/day", likes, 157_000, scale),
        _row("CTR", ctr, 0.21, 0.195, 0.22),
        _count("messages/day", messages, 12_900, scale),
        _count("messages per messenger user", per_sender, 6.3, 1.0),
        _count("iOS user share", ios, 0.34, 1.0),
        _count("gender 1 action share", gender1, 0.55, 1.0),
    ]
    for (lo, hi, share), value in zip(AGE_BUCKETS, ages, strict=True):
        label = f"age {lo}-{hi} user share" if hi < 80 else f"age {lo}+ user share"
        rows.append(_row(label, value, 0.018, 0.01, 0.025) if hi >= 80 else _count(label, value, share, 1.0))
    rows += [
        _count(f"new users/day (after {warmup}-day warm-up)", new, 1_300, scale),
        _row("new users' ads share", ads, 0.90, 0.81, 0.99),
        _count(f"feed users per 15 min at {NIGHT_BUCKET}", night_feed, 150, scale),
        _count(f"feed users per 15 min at {PEAK_BUCKET}", peak_feed, 770, scale),
        _count(f"messenger users per 15 min at {NIGHT_BUCKET}", night_msg_users, 60, scale),
        _count(f"messages per 15 min at {NIGHT_BUCKET}", night_msgs, 64, scale),
        _row("messenger DAU weekday max/min", cycle if days >= 7 else None, 1.3, 1.1, 2.0),
        replace(_row("median weekly views per user (not checked: the published 51 contradicts 740k views/day "
                     "at the real per-user shape, issue 20)", median_views if weeks else None, 51, 45.9, 56.1),
                checked=False),
        _row("user CTR mean (per user-week)", ctr_mean if weeks else None, 0.22, 0.20, 0.24),
        _row("user CTR median (per user-week)", ctr_median if weeks else None, 0.21, 0.19, 0.23),
        _row("users per exp_group per week (min)", group_min if weeks else None, 9_200 * scale,
             8_400 * scale, 10_000 * scale),
        _row("users per exp_group per week (max)", group_max if weeks else None, 9_200 * scale,
             8_400 * scale, 10_000 * scale),
    ]  # fmt: skip
    return rows


def format_value(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    if 0 < abs(value) < 0.01:
        return f"{value:.2%}"
    return f"{value:.4f}"


def render(rows: list[ReportRow]) -> Any:
    """A rich Table: figure, measured, target, range, ok."""
    from rich.table import Table

    table = Table(title="simulated vs published magnitudes")
    for column, justify in (("figure", "left"), ("measured", "right"), ("target", "right"), ("range", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("ok", justify="center")
    for r in rows:
        table.add_row(
            r.figure, format_value(r.measured), format_value(r.target),
            f"{format_value(r.low)} – {format_value(r.high)}", _mark(r.ok) if r.checked else "–",
        )  # fmt: skip
    return table


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


def render_shape(rows: list[ShapeRow]) -> Any:
    """A rich Table: per-user shape of the simulated weeks next to the real app's week."""
    from rich.table import Table

    weeks = len(rows[0].weeks) if rows else 0
    table = Table(
        title=f"per-user shape of a week, exp_groups {'+'.join(map(str, SHAPE_GROUPS))}, users with ≥ 1 view "
        f"({weeks} complete week(s))"
    )
    for column in ("figure", "real app", f"range (±{SHAPE_TOLERANCE:.0%})", "simulated (mean)", "worst week"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    table.add_column("ok", justify="center")
    for r in rows:
        table.add_row(
            r.figure, format_value(r.real), f"{format_value(r.low)} – {format_value(r.high)}",
            format_value(r.mean), format_value(r.worst), _mark(r.ok) if r.weeks else "n/a",
        )  # fmt: skip
    return table


def failures(rows: list[ReportRow], shape: list[ShapeRow]) -> list[str]:
    """Figures outside their range: checked magnitudes, and shape figures with a week outside ±20 %."""
    return [r.figure for r in rows if r.checked and not r.ok] + [r.figure for r in shape if r.weeks and not r.ok]
