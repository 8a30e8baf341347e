"""SQL builders: the whole simulation is ``INSERT … SELECT … FROM numbers(…)`` inside ClickHouse.

Randomness is hash based: ``cityHash64(seed, '<stream tag>', ids…) / 2^64`` is a uniform in [0, 1)
that depends only on the seed, the stream and the ids (user, day, event index), never on threads,
chunks or block boundaries, so the same seed always yields the same rows and any time window of a
day (live mode) is a consistent slice of the full day.

One statement per day per table (per user-slot chunk at high scale). Values coming from the caller
(dates, times, segment strings) are bound as ``{name:Type}`` query parameters; model constants and
validated numbers are inlined as literals.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from feedpulse.experiments.spec import ExperimentSpec
from feedpulse.identifiers import InvalidIdentifierError, quoted
from feedpulse.simulator.anomalies import Anomaly, AnomalySpec
from feedpulse.simulator.model import AGE_BUCKETS, CITIES, EPOCH, QUANTILES, SECONDS_PER_DAY, Model

UINT32_MAX = 2**32 - 1
# ClickHouse ``DateTime`` ends at 2106-02-07 06:28:15 UTC; 2106-02-05 is the last day that fits whole
# in every time zone (UTC−14 … UTC+14). Later days wrap around to 1970 + x (2299-01-01 → 2013-04).
LAST_DAY = dt.date(2106, 2, 5)
# Staging tables of one run: ``<table>__simulating_<run id>``; a day is generated there and moved
# into the real table with REPLACE PARTITION, so readers never see half a table's day.
STAGING_MARK = "__simulating_"

FEED_COLUMNS = "user_id, post_id, action, time, gender, age, country, city, os, source, exp_group"
MESSAGE_COLUMNS = "user_id, reciever_id, time, source, exp_group, gender, age, country, city, os"


class SimulationError(ValueError):
    """Invalid simulation request (bad database name, scale too large for UInt32 ids, …)."""


def quote_ident(name: str) -> str:
    try:
        return quoted(name)
    except InvalidIdentifierError as exc:
        raise SimulationError(str(exc)) from None


def create_statements(database: str) -> list[str]:
    """DDL for the source schema (docs/architecture.md), one partition per day.

    ORDER BY (time, user_id): 15-minute range scans (dashboards, alerts, live appends) read a
    contiguous key range; per-day per-user aggregation reads one partition and is hash-aggregated
    anyway, while user_id as the second key keeps a user's rows of the same second together.
    """
    db = quote_ident(database)
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}",
        f"""CREATE TABLE IF NOT EXISTS {db}.feed_actions (
    user_id UInt32, post_id UInt32, action String, time DateTime, gender Int8, age Int16,
    country String, city String, os String, source String, exp_group Int8
) ENGINE = MergeTree PARTITION BY toDate(time) ORDER BY (time, user_id)""",
        f"""CREATE TABLE IF NOT EXISTS {db}.message_actions (
    user_id UInt32, reciever_id UInt32, time DateTime, source String, exp_group Int8, gender Int8,
    age Int16, country String, city String, os String
) ENGINE = MergeTree PARTITION BY toDate(time) ORDER BY (time, user_id)""",
    ]


def drop_partition_statements(database: str, day: dt.date) -> list[str]:
    db = quote_ident(database)
    pid = day.strftime("%Y%m%d")
    return [f"ALTER TABLE {db}.{t} DROP PARTITION ID '{pid}'" for t in ("feed_actions", "message_actions")]


def days_table_statement(database: str) -> str:
    """DDL of ``simulated_days``: one row per day and attempt; a day is complete when its latest row says so.

    A run writes ``complete = 0`` before it touches a day and ``complete = 1`` after both tables hold
    the new day, so a day cut off between the two tables' replacements stays marked incomplete.
    """
    return f"""CREATE TABLE IF NOT EXISTS {quote_ident(database)}.simulated_days (
    day Date, complete UInt8, seed UInt64, scale Float64, run_id String, at DateTime64(6)
) ENGINE = MergeTree ORDER BY (day, at)"""


def staging_name(table: str, run_id: str) -> str:
    return f"{table}{STAGING_MARK}{run_id}"


def replace_partition_statement(database: str, table: str, staging: str, day: dt.date) -> str:
    """Atomic swap of one table's day: the staging table's partition replaces the real one (or its absence)."""
    db = quote_ident(database)
    pid = day.strftime("%Y%m%d")
    return f"ALTER TABLE {db}.{quote_ident(table)} REPLACE PARTITION ID '{pid}' FROM {db}.{quote_ident(staging)}"


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def lit(x: float) -> str:
    """A float literal that round-trips."""
    return repr(float(x))


def arr(values: list[Any] | tuple[Any, ...]) -> str:
    return "[" + ", ".join(lit(v) if isinstance(v, float) else str(int(v)) for v in values) + "]"


def sarr(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) + "]"


def U(tag: str, *args: str) -> str:
    """Uniform [0, 1) from the seed, a stream tag and ids."""
    return f"(cityHash64({{seed:UInt64}}, '{tag}', {', '.join(args)}) / 18446744073709551616.)"


def G(tag: str, *args: str) -> str:
    """Standard normal (Box–Muller) from two hash streams."""
    return f"(sqrt(-2 * log(1 - {U(tag + '1', *args)})) * cos(2 * pi() * {U(tag + '2', *args)}))"


def curve(table: str, u: str) -> str:
    """Inverse-CDF lookup with linear interpolation: O(1) per event; ``table`` has QUANTILES+1 points."""
    pos = f"({u}) * {QUANTILES}"
    i = f"least(toUInt32(floor({pos})), {QUANTILES - 1})"
    return f"({table}[{i} + 1] + ({table}[{i} + 2] - {table}[{i} + 1]) * ({pos} - {i}))"


def check_date_range(day: dt.date) -> None:
    """Reject days outside ClickHouse's ``DateTime`` range (they would wrap around, not fail)."""
    if day > LAST_DAY:
        raise SimulationError(
            f"day {day} is outside ClickHouse's DateTime range (it ends 2106-02-07 06:28:15 UTC): "
            f"the last day that can be simulated is {LAST_DAY}"
        )


def last_day(start: dt.date, days: int) -> dt.date:
    """``start + days - 1``, checked against the DateTime range first (9999-12-31 + 35 days overflows)."""
    check_date_range(start)
    if (LAST_DAY - start).days < days - 1:
        raise SimulationError(
            f"{days} days from {start} end after {LAST_DAY}, the last day in ClickHouse's DateTime range"
        )
    return start + dt.timedelta(days=days - 1)


@dataclass
class Context:
    """Everything one simulation's statements need."""

    database: str
    scale: float
    seed: int
    anomalies: AnomalySpec = field(default_factory=AnomalySpec)
    experiment: ExperimentSpec | None = None
    model: Model = field(default_factory=Model)

    def __post_init__(self) -> None:
        quote_ident(self.database)
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise SimulationError(f"scale must be a positive number, got {self.scale}")
        if not 0 <= self.seed < 2**63:
            raise SimulationError(f"seed must be a non-negative integer, got {self.seed}")
        self.capacity = self.model.capacity(self.scale)
        self.base_slots = self.model.base_slots(self.scale)

    def check_day(self, day: dt.date) -> None:
        check_date_range(day)
        top = (day_number(day) + 1) * self.capacity
        if day_number(day) - self.model.window_days < 0:
            raise SimulationError(f"day {day} is too early: days must be after {EPOCH + dt.timedelta(181)}")
        if top > UINT32_MAX:
            raise SimulationError(
                f"user ids overflow UInt32 at scale {self.scale:g} on {day}: "
                f"{self.capacity} slots/day × {day_number(day)} days since {EPOCH}; use a smaller scale"
            )

    @property
    def groups(self) -> int:
        return self.experiment.groups if self.experiment else 5

    def base_params(self, day: dt.date) -> dict[str, Any]:
        return {"seed": self.seed, "dn": day_number(day), "d": day}


# ----------------------------------------------------------------------------------------------------
# new_users anomalies → per signup-day adjustments
# ----------------------------------------------------------------------------------------------------


def _overlap(a: Anomaly, s: int) -> tuple[float, int, int]:
    """(fraction of day s covered, window start/end seconds within that day)."""
    day = EPOCH + dt.timedelta(days=s)
    lo = dt.datetime.combine(day, dt.time())
    hi = lo + dt.timedelta(days=1)
    start, end = max(a.start, lo), min(a.end, hi)
    if end <= start:
        return 0.0, 0, 0
    return (
        (end - start).total_seconds() / SECONDS_PER_DAY,
        int((start - lo).total_seconds()),
        int((end - lo).total_seconds()),
    )


def signup_adjustments(ctx: Context, dn: int) -> dict[str, list[Any]]:
    """Per signup day in the window: base factor (sign-up drops) and campaign users."""
    out: dict[str, list[Any]] = {"days": [], "factor": [], "extra": [], "ret": [], "ws": [], "we": []}
    campaigns = [a for a in ctx.anomalies if a.metric == "new_users"]
    if not campaigns:
        return out
    mean_new = ctx.model.new_users_per_day * ctx.scale
    for s in range(dn - ctx.model.window_days, dn + 1):
        factor, extra, ret, ws, we = 1.0, 0, 0, 0, SECONDS_PER_DAY
        for a in campaigns:
            frac, a_ws, a_we = _overlap(a, s)
            if frac <= 0:
                continue
            if a.change < 0:
                factor *= 1 + a.change * frac
            else:
                extra += round(a.change * mean_new * frac)
                ret = max(ret, a.retention_days)
                ws, we = a_ws, a_we
        if factor != 1.0 or extra:
            if extra > 3 * ctx.base_slots:
                raise SimulationError(
                    f"new_users anomalies add {extra} users on {EPOCH + dt.timedelta(days=s)}: "
                    f"more than the {3 * ctx.base_slots} campaign slots per day at scale {ctx.scale:g}"
                )
            for key, value in zip(out, (s, factor, extra, ret, ws, we), strict=True):
                out[key].append(value)
    return out


def _lookup(expr: str, adj: dict[str, list[Any]], key: str, default: str) -> str:
    if not adj["days"]:
        return default
    return f"transform({expr}, {arr(adj['days'])}, {arr(adj[key])}, {default})"


# ----------------------------------------------------------------------------------------------------
# Users of one day
# ----------------------------------------------------------------------------------------------------


def new_users_expr(ctx: Context, s: str) -> str:
    """Base new users n(s) on signup day ``s`` (an Int64 expression)."""
    m = ctx.model
    noise = m.new_users_noise
    return (
        f"toUInt32(round({lit(m.new_users_per_day * ctx.scale)} * ({lit(1 - noise)} + {lit(2 * noise)} * "
        f"{U('n', s)}) * {arr(m.new_users_weekday)}[toDayOfWeek(toDate('{EPOCH}') + {s})]))"
    )


def views_expr(ctx: Context) -> str:
    """Views of a user's active day: Poisson-ish around ``lam``, or on a glance day 1 + a few."""
    m = ctx.model
    full = f"greatest(1, round(lam + sqrt(lam) * {G('pv', 'user_id', '{dn:Int64}')}))"
    if m.glance_share <= 0:
        return f"toUInt32({full})"
    glance = f"1 + floor(-log(1 - {U('gv', 'user_id', '{dn:Int64}')}) * {lit(m.glance_scale)})"
    return f"toUInt32(if({U('gl', 'user_id', '{dn:Int64}')} < {lit(m.glance_share)}, {glance}, {full}))"


def users_sql(ctx: Context, adj: dict[str, list[Any]], k0: int, k1: int) -> str:
    """Active users of day ``{dn}`` with their attributes and per-day feed/messenger draws."""
    m = ctx.model
    base = ctx.base_slots
    cap = ctx.capacity
    feed_cut = m.feed_only_share
    msg_cut = m.feed_only_share + m.messenger_only_share
    q = {"loyal": (m.loyal_q, m.loyal_tau), "casual": (m.casual_q, m.casual_tau)}
    weekday = (
        f"if(svc = 1, {arr(m.messenger_weekday)}, {arr(m.feed_weekday)})[toDayOfWeek({{d:Date}})] * "
        f"({lit(1 - m.day_noise)} + {lit(2 * m.day_noise)} * {U('day', '{dn:Int64}')})"
    )
    p_return = (
        f"if(campaign, if(t <= ret_s, {lit(m.campaign_q)}, 0.), "
        f"if(loyal, {lit(q['loyal'][0])} * exp(-t / {lit(q['loyal'][1])}), "
        f"{lit(q['casual'][0])} * exp(-t / {lit(q['casual'][1])})))"
    )
    cum_age = [sum(b[2] for b in AGE_BUCKETS[: i + 1]) for i in range(len(AGE_BUCKETS))]
    cum_age[-1] = 2.0
    total_city = sum(c[2] for c in CITIES)
    cum_city = [sum(c[2] for c in CITIES[: i + 1]) / total_city for i in range(len(CITIES))]
    cum_city[-1] = 2.0
    z_rate = G("rate", "user_id")
    ctr_z = f"({lit(m.ctr_rate_rho)} * z_rate + {lit(math.sqrt(1 - m.ctr_rate_rho**2))} * {G('ctr', 'user_id')})"
    dsig = m.daily_sigma
    s1, s3 = m.session_shares[0], m.session_shares[2]
    n_full = "n_full"
    return f"""
SELECT
    user_id, s, t, campaign, svc, ws_s, we_s,
    if({U("gender", "user_id")} < {lit(m.gender1_share)}, 1, 0) AS gender,
    arrayFirstIndex(x -> x > {U("age", "user_id")}, {arr(cum_age)}) AS age_bucket,
    toInt16({arr([b[0] for b in AGE_BUCKETS])}[age_bucket] + floor(pow({U("age2", "user_id")},
        if(age_bucket = {len(AGE_BUCKETS)}, 2, 1)) * {arr([b[1] - b[0] + 1 for b in AGE_BUCKETS])}[age_bucket]))
        AS age,
    arrayFirstIndex(x -> x > {U("geo", "user_id")}, {arr(cum_city)}) AS geo,
    {sarr([c[0] for c in CITIES])}[geo] AS country,
    {sarr([c[1] for c in CITIES])}[geo] AS city,
    if({U("os", "user_id")} < {lit(m.ios_share)}, 'iOS', 'Android') AS os,
    if(campaign OR {U("src", "user_id")} < {lit(m.ads_share)}, 'ads', 'organic') AS source,
    toInt8(cityHash64({{seed:UInt64}}, 'grp', user_id) % {ctx.groups}) AS exp_group,
    {z_rate} AS z_rate,
    1 / (1 + exp(-({lit(m.ctr_logit_median)} + {lit(m.ctr_logit_sd)} * {ctr_z}))) AS ctr,
    exp({lit(m.view_mu)} + {lit(m.view_sigma)} * z_rate + {lit(dsig)} * {G("dv", "user_id", "{dn:Int64}")}
        - {lit(dsig * dsig / 2)}) AS lam,
    {views_expr(ctx)} AS n_views,
    toUInt8(1 + (({U("ns", "user_id", "{dn:Int64}")} AS v_ns) < {lit(1 - s1)}) + (v_ns < {lit(s3)})) AS n_sess,
    n_views / n_sess * {lit(m.view_gap_seconds)} * (0.5 + {U("len", "user_id", "{dn:Int64}")}) AS sess_len,
    toUInt32(1 + floor(exp({lit(math.log(m.msg_rate_mean) - m.msg_rate_sigma**2 / 2)})
        * exp({lit(m.msg_rate_sigma)} * {G("mr", "user_id")}) * -log(1 - {U("mn", "user_id", "{dn:Int64}")})))
        AS n_msgs,
    toUInt32(least(50, 1 + floor(-log(1 - {U("nc", "user_id")}) * {lit(m.contacts_mean)}))) AS n_contacts
FROM (
    SELECT
        s, t, campaign, ws_s, we_s,
        toUInt32(s * {cap} + if(campaign, {base} + (k - n_s), k) + 1) AS user_id,
        {U("loyal", "user_id")} < {lit(m.loyal_share)} AS loyal,
        multiIf({U("svc", "user_id")} AS v_svc < {lit(feed_cut)}, 0, v_svc < {lit(msg_cut)}, 1, 2) AS svc,
        if(t = 0, 1., {p_return} * {weekday}) AS p_act
    FROM (
        SELECT s, n_s, x_s, ret_s, ws_s, we_s, arrayJoin(range({k0}, toUInt32(least(n_s + x_s, {k1})))) AS k,
            toInt64({{dn:Int64}}) - s AS t, k >= n_s AS campaign
        FROM (
            SELECT
                toInt64({{dn:Int64}}) - toInt64(number) AS s,
                {new_users_expr(ctx, "s")} AS {n_full},
                toUInt32(round({n_full} * {_lookup("s", adj, "factor", "1.")})) AS n_s,
                toUInt32({_lookup("s", adj, "extra", "0")}) AS x_s,
                {_lookup("s", adj, "ret", "0")} AS ret_s,
                {_lookup("s", adj, "ws", "0")} AS ws_s,
                {_lookup("s", adj, "we", str(SECONDS_PER_DAY))} AS we_s
            FROM numbers({m.window_days + 1})
        )
    )
    WHERE {U("act", "user_id", "{dn:Int64}")} < p_act
)"""


# ----------------------------------------------------------------------------------------------------
# Anomaly conditions on generated rows
# ----------------------------------------------------------------------------------------------------


def segment_sql(a: Anomaly, i: int, params: dict[str, Any]) -> str:
    parts = []
    for key, values in a.segment.items():
        if key == "age":
            ranges = []
            for v in values:
                text = str(v)
                lo, hi = (text[:-1], "200") if text.endswith("+") else ([*text.split("-"), text])[:2]
                ranges.append(f"(age BETWEEN {int(lo)} AND {int(hi)})")
            parts.append("(" + " OR ".join(ranges) + ")")
        elif key in ("gender", "exp_group"):
            parts.append(f"{key} IN ({', '.join(str(int(v)) for v in values)})")
        else:
            name = f"a{i}_{key}"
            params[name] = [str(v) for v in values]
            parts.append(f"has({{{name}:Array(String)}}, {key})")
    return " AND ".join(parts) or "1"


def anomaly_factor(a: Anomaly, i: int, params: dict[str, Any], event_hash: str, user_hash: str) -> str:
    """Copies (0, 1, 2, …) of a row under one anomaly: 1 outside its window/segment."""
    params[f"a{i}_start"] = a.start.strftime("%Y-%m-%d %H:%M:%S")
    params[f"a{i}_end"] = a.end.strftime("%Y-%m-%d %H:%M:%S")
    cond = f"time >= {{a{i}_start:DateTime}} AND time < {{a{i}_end:DateTime}} AND {segment_sql(a, i, params)}"
    if a.change < 0:
        u = user_hash if a.metric in ("feed_users", "messenger_users", "users") else event_hash
        inside = f"if({u.format(tag=f'anom{i}')} < {lit(-a.change)}, 0, 1)"
    else:
        whole, frac = int(a.change), a.change - int(a.change)
        inside = f"({1 + whole} + ({event_hash.format(tag=f'anom{i}')} < {lit(frac)}))"
    return f"if({cond}, {inside}, 1)"


def copies_sql(ctx: Context, table: str, params: dict[str, Any], event_hash: str, user_hash: str) -> tuple[str, bool]:
    """(copies expression, whether any anomaly can replicate rows) for one table."""
    factors = []
    grow = False
    for i, a in enumerate(ctx.anomalies):
        if table == "feed":
            kinds = {"views": "action = 'view'", "likes": "action = 'like'", "feed_users": "1", "users": "1"}
        else:
            kinds = {"messages": "1", "messenger_users": "1", "users": "1"}
        if a.metric not in kinds:
            continue
        factor = anomaly_factor(a, i, params, event_hash, user_hash)
        factors.append(factor if kinds[a.metric] == "1" else f"if({kinds[a.metric]}, {factor}, 1)")
        grow = grow or a.change > 0
    return (" * ".join(f"toUInt32({f})" for f in factors) or "toUInt32(1)"), grow


def _finish(
    ctx: Context, inner: str, columns: str, table: str, params: dict[str, Any], live: bool, hashes: tuple[str, str]
) -> str:
    copies, grow = copies_sql(ctx, table, params, *hashes)
    where = ["copies > 0"]
    if live:
        where.append("time > {lo:DateTime} AND time <= {hi:DateTime}")
    replicate = "ARRAY JOIN range(copies) AS copy_index" if grow else ""
    return f"""SELECT {columns}
FROM (SELECT *, {copies} AS copies FROM ({inner}))
{replicate}
WHERE {" AND ".join(where)}"""


# ----------------------------------------------------------------------------------------------------
# Feed and messenger statements
# ----------------------------------------------------------------------------------------------------


def _ctr_multiplier(ctx: Context, day: dt.date) -> str:
    exp = ctx.experiment
    if not exp or not exp.ab or not exp.ab.covers(day):
        return "1."
    effect = exp.ab.effect
    if effect.type == "ctr_lift":
        mult = lit(1 + effect.lift)
    else:
        mult = f"if({U('polarize', 'user_id')} < {lit(effect.share)}, {lit(effect.up)}, {lit(effect.down)})"
    return f"if(exp_group = {exp.ab.treatment}, {mult}, 1.)"


def feed_select(ctx: Context, day: dt.date, k0: int, k1: int, live: bool = False) -> tuple[str, dict[str, Any]]:
    """SELECT producing the feed rows of one day (one user-slot chunk)."""
    m = ctx.model
    params = ctx.base_params(day)
    adj = signup_adjustments(ctx, day_number(day))
    table = m.feed_quantiles()
    start = (
        f"if(campaign AND t = 0, ws_s + (we_s - ws_s) * {U('cs', 'user_id', 'toUInt8(number)')}, "
        f"{curve('qfeed', U('ss', 'user_id', '{dn:Int64}', 'toUInt8(number)'))})"
    )
    post_age = f"floor(-log(1 - bitShiftRight(h, 32) / 4294967296.) * {lit(m.post_age_mean_days * m.posts_per_day)})"
    inner = f"""
SELECT
    user_id, gender, age, country, city, os, source, exp_group, j, is_like,
    if(is_like, 'like', 'view') AS action,
    toUInt32(greatest(1, toInt64({{dn:Int64}}) * {m.posts_per_day} + {m.posts_per_day - 1} - {post_age})) AS post_id,
    toDateTime({{d:Date}}) + toUInt32((tsec + is_like * (2 + bitShiftRight(h2, 60))) % {SECONDS_PER_DAY}) AS time
FROM (
    SELECT *,
        arrayJoin(range(n_views)) AS j,
        intHash64(h_day + j) AS h,
        intHash64(h) AS h2,
        toUInt32(starts[j % n_sess + 1] + floor(bitAnd(h, 4294967295) / 4294967296. * sess_len))
            % {SECONDS_PER_DAY} AS tsec,
        bitAnd(h2, 4294967295) / 4294967296. < ctr_eff AS liked
    FROM (
        SELECT *,
            cityHash64({{seed:UInt64}}, 'ev', user_id, {{dn:Int64}}) AS h_day,
            arrayMap(number -> {start}, range(n_sess)) AS starts,
            least(0.95, ctr * {_ctr_multiplier(ctx, day)}) AS ctr_eff
        FROM ({users_sql(ctx, adj, k0, k1)})
        WHERE svc != 1
    )
)
ARRAY JOIN if(liked, [0, 1], [0]) AS is_like"""
    hashes = (
        "(cityHash64({{seed:UInt64}}, '{tag}', user_id, {{dn:Int64}}, j, is_like) / 18446744073709551616.)",
        "(cityHash64({{seed:UInt64}}, '{tag}', user_id) / 18446744073709551616.)",
    )
    sql = f"WITH {arr(table)} AS qfeed\n" + _finish(ctx, inner, FEED_COLUMNS, "feed", params, live, hashes)
    return sql, params


def message_select(ctx: Context, day: dt.date, k0: int, k1: int, live: bool = False) -> tuple[str, dict[str, Any]]:
    """SELECT producing the messenger rows of one day (one user-slot chunk)."""
    m = ctx.model
    params = ctx.base_params(day)
    adj = signup_adjustments(ctx, day_number(day))
    table = m.messenger_quantiles()
    inner = f"""
SELECT
    user_id, gender, age, country, city, os, source, exp_group, j,
    toUInt32(s2 * {ctx.capacity} + floor(bitShiftRight(hr, 32) / 4294967296. * {new_users_expr(ctx, "s2")}) + 1)
        AS r0,
    if(r0 = user_id, r0 + 1, r0) AS reciever_id,
    toDateTime({{d:Date}}) + toUInt32({curve("qmsg", "bitShiftRight(h, 32) / 4294967296.")}) AS time
FROM (
    SELECT *,
        arrayJoin(range(n_msgs)) AS j,
        cityHash64({{seed:UInt64}}, 'msg', user_id, {{dn:Int64}}, j) AS h,
        bitAnd(h, 4294967295) % n_contacts AS contact,
        cityHash64({{seed:UInt64}}, 'rcv', user_id, contact) AS hr,
        least(toInt64({{dn:Int64}}), s - 60 + toInt64(bitAnd(hr, 4294967295) % 121)) AS s2
    FROM ({users_sql(ctx, adj, k0, k1)})
    WHERE svc != 0
)"""
    hashes = (
        "(cityHash64({{seed:UInt64}}, '{tag}', user_id, {{dn:Int64}}, j) / 18446744073709551616.)",
        "(cityHash64({{seed:UInt64}}, '{tag}', user_id) / 18446744073709551616.)",
    )
    sql = f"WITH {arr(table)} AS qmsg\n" + _finish(ctx, inner, MESSAGE_COLUMNS, "messages", params, live, hashes)
    return sql, params


def chunks(ctx: Context, events_per_chunk: float = 3e7) -> list[tuple[int, int]]:
    """User-slot ranges [k0, k1) so that one statement generates at most ≈ ``events_per_chunk`` rows."""
    per_day = 900_000 * ctx.scale
    n = max(1, math.ceil(per_day / events_per_chunk))
    step = math.ceil(ctx.base_slots / n)
    bounds = [*range(0, ctx.base_slots, step), ctx.capacity]  # the last chunk also holds campaign slots
    return list(itertools.pairwise(bounds))


def insert_statements(
    ctx: Context, day: dt.date, live: bool = False, targets: dict[str, str] | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """(table, INSERT statement, parameters) for one day, every chunk, both tables.

    ``targets`` maps a table to the table the rows go to (a staging table); default: the table itself."""
    db = quote_ident(ctx.database)
    targets = targets or {}
    feed = quote_ident(targets.get("feed_actions", "feed_actions"))
    messages = quote_ident(targets.get("message_actions", "message_actions"))
    out = []
    for k0, k1 in chunks(ctx):
        sql, params = feed_select(ctx, day, k0, k1, live)
        out.append(("feed_actions", f"INSERT INTO {db}.{feed} ({FEED_COLUMNS})\n{sql}", params))
    for k0, k1 in chunks(ctx, events_per_chunk=1e12):
        sql, params = message_select(ctx, day, k0, k1, live)
        out.append(("message_actions", f"INSERT INTO {db}.{messages} ({MESSAGE_COLUMNS})\n{sql}", params))
    return out
