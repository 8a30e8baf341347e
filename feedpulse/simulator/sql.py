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
    partition = day.strftime("%Y%m%d")
    return [
        f"ALTER TABLE {db}.{table} DROP PARTITION ID '{partition}'" for table in ("feed_actions", "message_actions")
    ]


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
    partition = day.strftime("%Y%m%d")
    return f"ALTER TABLE {db}.{quote_ident(table)} REPLACE PARTITION ID '{partition}' FROM {db}.{quote_ident(staging)}"


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def literal(value: float) -> str:
    """A float literal that round-trips."""
    return repr(float(value))


def number_array(values: list[Any] | tuple[Any, ...]) -> str:
    """An array literal of numbers: floats round-trip, anything else is written as an integer."""
    return "[" + ", ".join(literal(value) if isinstance(value, float) else str(int(value)) for value in values) + "]"


def string_array(values: list[str] | tuple[str, ...]) -> str:
    """An array literal of strings, quotes and backslashes escaped."""
    return "[" + ", ".join("'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'" for text in values) + "]"


DAY_ID = "{dn:Int64}"


def uniform(stream: str, *ids: str) -> str:
    """Uniform [0, 1) from the seed, a stream tag and ids.

    A draw that depends on the day (``{dn:Int64}`` among the ids) is *noise* and takes the noise seed
    (``{noise:UInt64}``, the seed itself unless a run asks otherwise); every other draw defines the
    *population* (who signs up, their attributes and propensities) and takes the seed. Two runs with the
    same seed and different noise seeds are the same users behaving independently — the evaluation's
    limit detector averages such runs for each bucket's true expectation."""
    key = "{noise:UInt64}" if DAY_ID in ids else "{seed:UInt64}"
    return f"(cityHash64({key}, '{stream}', {', '.join(ids)}) / 18446744073709551616.)"


def gaussian(stream: str, *ids: str) -> str:
    """Standard normal (Box–Muller) from two hash streams."""
    return f"(sqrt(-2 * log(1 - {uniform(stream + '1', *ids)})) * cos(2 * pi() * {uniform(stream + '2', *ids)}))"


def inverse_cdf(table: str, probability: str) -> str:
    """Inverse-CDF lookup with linear interpolation: O(1) per event; ``table`` has QUANTILES+1 points."""
    position = f"({probability}) * {QUANTILES}"
    index = f"least(toUInt32(floor({position})), {QUANTILES - 1})"
    return f"({table}[{index} + 1] + ({table}[{index} + 2] - {table}[{index} + 1]) * ({position} - {index}))"


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
    noise_seed: int | None = None  # the day-level draws' seed (see :func:`uniform`); None: the seed

    def __post_init__(self) -> None:
        quote_ident(self.database)
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise SimulationError(f"scale must be a positive number, got {self.scale}")
        for name, value in (("seed", self.seed), ("noise seed", self.noise_seed)):
            if value is not None and not 0 <= value < 2**63:
                raise SimulationError(f"{name} must be a non-negative integer, got {value}")
        self.capacity = self.model.capacity(self.scale)
        self.base_slots = self.model.base_slots(self.scale)

    def check_day(self, day: dt.date) -> None:
        check_date_range(day)
        highest_user_id = (day_number(day) + 1) * self.capacity
        if day_number(day) - self.model.window_days < 0:
            raise SimulationError(f"day {day} is too early: days must be after {EPOCH + dt.timedelta(181)}")
        if highest_user_id > UINT32_MAX:
            raise SimulationError(
                f"user ids overflow UInt32 at scale {self.scale:g} on {day}: "
                f"{self.capacity} slots/day × {day_number(day)} days since {EPOCH}; use a smaller scale"
            )

    @property
    def groups(self) -> int:
        return self.experiment.groups if self.experiment else 5

    def base_params(self, day: dt.date) -> dict[str, Any]:
        noise = self.seed if self.noise_seed is None else self.noise_seed
        return {"seed": self.seed, "noise": noise, "dn": day_number(day), "d": day}


# ----------------------------------------------------------------------------------------------------
# new_users anomalies → per signup-day adjustments
# ----------------------------------------------------------------------------------------------------


def _overlap(anomaly: Anomaly, day_index: int) -> tuple[float, int, int]:
    """(fraction of day ``day_index`` covered, window start/end seconds within that day)."""
    day = EPOCH + dt.timedelta(days=day_index)
    day_start = dt.datetime.combine(day, dt.time())
    day_end = day_start + dt.timedelta(days=1)
    start, end = max(anomaly.start, day_start), min(anomaly.end, day_end)
    if end <= start:
        return 0.0, 0, 0
    return (
        (end - start).total_seconds() / SECONDS_PER_DAY,
        int((start - day_start).total_seconds()),
        int((end - day_start).total_seconds()),
    )


def signup_adjustments(ctx: Context, day_index: int) -> dict[str, list[Any]]:
    """Per signup day in the window: base factor (sign-up drops) and campaign users.

    Lists aligned by position, one entry per signup day that an anomaly touches: ``days`` (day
    numbers), ``factor`` (on the base new users), ``extra`` (campaign users), ``retention_days``,
    ``window_start``/``window_end`` (seconds of the day when campaign users sign up).
    """
    out: dict[str, list[Any]] = {
        "days": [], "factor": [], "extra": [], "retention_days": [], "window_start": [], "window_end": [],
    }  # fmt: skip
    campaigns = [anomaly for anomaly in ctx.anomalies if anomaly.metric == "new_users"]
    if not campaigns:
        return out
    mean_new = ctx.model.new_users_per_day * ctx.scale
    for signup_day in range(day_index - ctx.model.window_days, day_index + 1):
        factor, extra, retention, window_start, window_end = 1.0, 0, 0, 0, SECONDS_PER_DAY
        for campaign in campaigns:
            covered, campaign_start, campaign_end = _overlap(campaign, signup_day)
            if covered <= 0:
                continue
            if campaign.change < 0:
                factor *= 1 + campaign.change * covered
            else:
                extra += round(campaign.change * mean_new * covered)
                retention = max(retention, campaign.retention_days)
                window_start, window_end = campaign_start, campaign_end
        if factor != 1.0 or extra:
            if extra > 3 * ctx.base_slots:
                raise SimulationError(
                    f"new_users anomalies add {extra} users on {EPOCH + dt.timedelta(days=signup_day)}: "
                    f"more than the {3 * ctx.base_slots} campaign slots per day at scale {ctx.scale:g}"
                )
            row = (signup_day, factor, extra, retention, window_start, window_end)
            for key, value in zip(out, row, strict=True):
                out[key].append(value)
    return out


def _by_signup_day(signup_day: str, adjustments: dict[str, list[Any]], key: str, default: str) -> str:
    """SQL: ``adjustments[key]`` of the signup day ``signup_day`` (an expression), ``default`` for other days."""
    if not adjustments["days"]:
        return default
    return f"transform({signup_day}, {number_array(adjustments['days'])}, {number_array(adjustments[key])}, {default})"


# ----------------------------------------------------------------------------------------------------
# Users of one day
# ----------------------------------------------------------------------------------------------------


def new_users_expr(ctx: Context, signup_day: str) -> str:
    """Base new users on signup day ``signup_day`` (an Int64 expression)."""
    model = ctx.model
    noise = model.new_users_noise
    mean = literal(model.new_users_per_day * ctx.scale)
    weekday = f"{number_array(model.new_users_weekday)}[toDayOfWeek(toDate('{EPOCH}') + {signup_day})]"
    return (
        f"toUInt32(round({mean} * ({literal(1 - noise)} + {literal(2 * noise)} * "
        f"{uniform('n', signup_day)}) * {weekday}))"
    )


def views_expr(ctx: Context) -> str:
    """Views of a user's active day: Poisson-ish around ``lam``, or on a glance day 1 + a few."""
    model = ctx.model
    full = f"greatest(1, round(lam + sqrt(lam) * {gaussian('pv', 'user_id', '{dn:Int64}')}))"
    if model.glance_share <= 0:
        return f"toUInt32({full})"
    glance = f"1 + floor(-log(1 - {uniform('gv', 'user_id', '{dn:Int64}')}) * {literal(model.glance_scale)})"
    return f"toUInt32(if({uniform('gl', 'user_id', '{dn:Int64}')} < {literal(model.glance_share)}, {glance}, {full}))"


def users_sql(ctx: Context, adjustments: dict[str, list[Any]], slot_start: int, slot_end: int) -> str:
    """Active users of day ``{dn}`` with their attributes and per-day feed/messenger draws.

    Only the user slots ``[slot_start, slot_end)`` of each signup day (one chunk, see :func:`chunks`).
    """
    model = ctx.model
    # one draw per user picks the services: feed only below the first cut, messenger only below the second, else both
    feed_only_cut = literal(model.feed_only_share)
    messenger_only_cut = literal(model.feed_only_share + model.messenger_only_share)
    weekday = (
        f"if(svc = 1, {number_array(model.messenger_weekday)}, {number_array(model.feed_weekday)})"
        f"[toDayOfWeek({{d:Date}})] * "
        f"({literal(1 - model.day_noise)} + {literal(2 * model.day_noise)} * {uniform('day', '{dn:Int64}')})"
    )
    p_return = (
        f"if(campaign, if(t <= ret_s, {literal(model.campaign_q)}, 0.), "
        f"if(loyal, {literal(model.loyal_q)} * exp(-t / {literal(model.loyal_tau)}), "
        f"{literal(model.casual_q)} * exp(-t / {literal(model.casual_tau)})))"
    )
    age_shares = [sum(bucket[2] for bucket in AGE_BUCKETS[: i + 1]) for i in range(len(AGE_BUCKETS))]
    age_shares[-1] = 2.0  # every draw finds a bucket
    age_starts = number_array([bucket[0] for bucket in AGE_BUCKETS])
    age_widths = number_array([bucket[1] - bucket[0] + 1 for bucket in AGE_BUCKETS])
    city_total = sum(city[2] for city in CITIES)
    city_shares = [sum(city[2] for city in CITIES[: i + 1]) / city_total for i in range(len(CITIES))]
    city_shares[-1] = 2.0
    z_rate = gaussian("rate", "user_id")
    rho = model.ctr_rate_rho
    ctr_z = f"({literal(rho)} * z_rate + {literal(math.sqrt(1 - rho**2))} * {gaussian('ctr', 'user_id')})"
    daily_sigma = model.daily_sigma
    daily_z = gaussian("dv", "user_id", "{dn:Int64}")
    # sessions per day: 1 + (draw < share of 2 or 3 sessions) + (draw < share of 3 sessions)
    two_or_three_sessions = literal(1 - model.session_shares[0])
    three_sessions = literal(model.session_shares[2])
    view_gap = literal(model.view_gap_seconds)
    message_rate_median = literal(math.log(model.msg_rate_mean) - model.msg_rate_sigma**2 / 2)
    message_rate_z = f"{literal(model.msg_rate_sigma)} * {gaussian('mr', 'user_id')}"
    svc_draw = uniform("svc", "user_id")
    sessions_draw = uniform("ns", "user_id", "{dn:Int64}")
    slots = f"range({slot_start}, toUInt32(least(n_s + x_s, {slot_end})))"
    return f"""
SELECT
    user_id, s, t, campaign, svc, ws_s, we_s,
    if({uniform("gender", "user_id")} < {literal(model.gender1_share)}, 1, 0) AS gender,
    arrayFirstIndex(x -> x > {uniform("age", "user_id")}, {number_array(age_shares)}) AS age_bucket,
    toInt16({age_starts}[age_bucket] + floor(pow({uniform("age2", "user_id")},
        if(age_bucket = {len(AGE_BUCKETS)}, 2, 1)) * {age_widths}[age_bucket]))
        AS age,
    arrayFirstIndex(x -> x > {uniform("geo", "user_id")}, {number_array(city_shares)}) AS geo,
    {string_array([city[0] for city in CITIES])}[geo] AS country,
    {string_array([city[1] for city in CITIES])}[geo] AS city,
    if({uniform("os", "user_id")} < {literal(model.ios_share)}, 'iOS', 'Android') AS os,
    if(campaign OR {uniform("src", "user_id")} < {literal(model.ads_share)}, 'ads', 'organic') AS source,
    toInt8(cityHash64({{seed:UInt64}}, 'grp', user_id) % {ctx.groups}) AS exp_group,
    {z_rate} AS z_rate,
    1 / (1 + exp(-({literal(model.ctr_logit_median)} + {literal(model.ctr_logit_sd)} * {ctr_z}))) AS ctr,
    exp({literal(model.view_mu)} + {literal(model.view_sigma)} * z_rate + {literal(daily_sigma)} * {daily_z}
        - {literal(daily_sigma * daily_sigma / 2)}) AS lam,
    {views_expr(ctx)} AS n_views,
    toUInt8(1 + (({sessions_draw} AS v_ns) < {two_or_three_sessions}) + (v_ns < {three_sessions})) AS n_sess,
    n_views / n_sess * {view_gap} * (0.5 + {uniform("len", "user_id", "{dn:Int64}")}) AS sess_len,
    toUInt32(1 + floor(exp({message_rate_median})
        * exp({message_rate_z}) * -log(1 - {uniform("mn", "user_id", "{dn:Int64}")})))
        AS n_msgs,
    toUInt32(least(50, 1 + floor(-log(1 - {uniform("nc", "user_id")}) * {literal(model.contacts_mean)}))) AS n_contacts
FROM (
    SELECT
        s, t, campaign, ws_s, we_s,
        toUInt32(s * {ctx.capacity} + if(campaign, {ctx.base_slots} + (k - n_s), k) + 1) AS user_id,
        {uniform("loyal", "user_id")} < {literal(model.loyal_share)} AS loyal,
        multiIf({svc_draw} AS v_svc < {feed_only_cut}, 0, v_svc < {messenger_only_cut}, 1, 2) AS svc,
        if(t = 0, 1., {p_return} * {weekday}) AS p_act
    FROM (
        SELECT s, n_s, x_s, ret_s, ws_s, we_s, arrayJoin({slots}) AS k,
            toInt64({{dn:Int64}}) - s AS t, k >= n_s AS campaign
        FROM (
            SELECT
                toInt64({{dn:Int64}}) - toInt64(number) AS s,
                {new_users_expr(ctx, "s")} AS n_full,
                toUInt32(round(n_full * {_by_signup_day("s", adjustments, "factor", "1.")})) AS n_s,
                toUInt32({_by_signup_day("s", adjustments, "extra", "0")}) AS x_s,
                {_by_signup_day("s", adjustments, "retention_days", "0")} AS ret_s,
                {_by_signup_day("s", adjustments, "window_start", "0")} AS ws_s,
                {_by_signup_day("s", adjustments, "window_end", str(SECONDS_PER_DAY))} AS we_s
            FROM numbers({model.window_days + 1})
        )
    )
    WHERE {uniform("act", "user_id", "{dn:Int64}")} < p_act
)"""


# ----------------------------------------------------------------------------------------------------
# Anomaly conditions on generated rows
# ----------------------------------------------------------------------------------------------------


def segment_sql(anomaly: Anomaly, index: int, params: dict[str, Any]) -> str:
    """Condition on a row for the segment of the ``index``-th anomaly; string values become query parameters."""
    parts = []
    for key, values in anomaly.segment.items():
        if key == "age":
            ranges = []
            for value in values:
                text = str(value)
                lo, hi = (text[:-1], "200") if text.endswith("+") else ([*text.split("-"), text])[:2]
                ranges.append(f"(age BETWEEN {int(lo)} AND {int(hi)})")
            parts.append("(" + " OR ".join(ranges) + ")")
        elif key in ("gender", "exp_group"):
            parts.append(f"{key} IN ({', '.join(str(int(value)) for value in values)})")
        else:
            name = f"a{index}_{key}"
            params[name] = [str(value) for value in values]
            parts.append(f"has({{{name}:Array(String)}}, {key})")
    return " AND ".join(parts) or "1"


def anomaly_factor(anomaly: Anomaly, index: int, params: dict[str, Any], event_hash: str, user_hash: str) -> str:
    """Copies (0, 1, 2, …) of a row under one anomaly: 1 outside its window/segment.

    ``event_hash``/``user_hash``: uniform draws per row/per user, templates with a ``{tag}`` stream."""
    start, end = f"a{index}_start", f"a{index}_end"
    params[start] = anomaly.start.strftime("%Y-%m-%d %H:%M:%S")
    params[end] = anomaly.end.strftime("%Y-%m-%d %H:%M:%S")
    condition = f"time >= {{{start}:DateTime}} AND time < {{{end}:DateTime}} AND {segment_sql(anomaly, index, params)}"
    stream = f"anom{index}"
    if anomaly.change < 0:
        per_user = anomaly.metric in ("feed_users", "messenger_users", "users")
        draw = (user_hash if per_user else event_hash).format(tag=stream)
        inside = f"if({draw} < {literal(-anomaly.change)}, 0, 1)"
    else:
        whole, fraction = int(anomaly.change), anomaly.change - int(anomaly.change)
        inside = f"({1 + whole} + ({event_hash.format(tag=stream)} < {literal(fraction)}))"
    return f"if({condition}, {inside}, 1)"


def copies_sql(ctx: Context, table: str, params: dict[str, Any], event_hash: str, user_hash: str) -> tuple[str, bool]:
    """(copies expression, whether any anomaly can replicate rows) for one table."""
    factors = []
    grow = False
    if table == "feed":
        affected_rows = {"views": "action = 'view'", "likes": "action = 'like'", "feed_users": "1", "users": "1"}
    else:
        affected_rows = {"messages": "1", "messenger_users": "1", "users": "1"}
    for index, anomaly in enumerate(ctx.anomalies):
        if anomaly.metric not in affected_rows:
            continue
        factor = anomaly_factor(anomaly, index, params, event_hash, user_hash)
        rows = affected_rows[anomaly.metric]
        factors.append(factor if rows == "1" else f"if({rows}, {factor}, 1)")
        grow = grow or anomaly.change > 0
    return (" * ".join(f"toUInt32({factor})" for factor in factors) or "toUInt32(1)"), grow


def _apply_anomalies(
    ctx: Context, inner: str, columns: str, table: str, params: dict[str, Any], live: bool, hashes: tuple[str, str]
) -> str:
    """The table's ``columns`` of the ``inner`` rows, each dropped or repeated as the anomalies say.

    ``live``: only the rows in the window ``({lo}, {hi}]`` of the day; ``hashes``: (per row, per user) draws."""
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
    """The A/B test's CTR effect on the treatment group's users on ``day``: ``1.`` outside the test."""
    experiment = ctx.experiment
    if not experiment or not experiment.ab or not experiment.ab.covers(day):
        return "1."
    effect = experiment.ab.effect
    if effect.type == "ctr_lift":
        multiplier = literal(1 + effect.lift)
    else:
        draw = uniform("polarize", "user_id")
        multiplier = f"if({draw} < {literal(effect.share)}, {literal(effect.up)}, {literal(effect.down)})"
    return f"if(exp_group = {experiment.ab.treatment}, {multiplier}, 1.)"


def feed_select(
    ctx: Context, day: dt.date, slot_start: int, slot_end: int, live: bool = False
) -> tuple[str, dict[str, Any]]:
    """SELECT producing the feed rows of one day (one user-slot chunk)."""
    model = ctx.model
    params = ctx.base_params(day)
    adjustments = signup_adjustments(ctx, day_number(day))
    session_start_table = model.feed_quantiles()
    session_start = (
        f"if(campaign AND t = 0, ws_s + (we_s - ws_s) * {uniform('cs', 'user_id', 'toUInt8(number)')}, "
        f"{inverse_cdf('qfeed', uniform('ss', 'user_id', '{dn:Int64}', 'toUInt8(number)'))})"
    )
    posts_per_day = model.posts_per_day
    mean_post_age = literal(model.post_age_mean_days * posts_per_day)  # in posts
    post_age = f"floor(-log(1 - bitShiftRight(h, 32) / 4294967296.) * {mean_post_age})"
    inner = f"""
SELECT
    user_id, gender, age, country, city, os, source, exp_group, j, is_like,
    if(is_like, 'like', 'view') AS action,
    toUInt32(greatest(1, toInt64({{dn:Int64}}) * {posts_per_day} + {posts_per_day - 1} - {post_age})) AS post_id,
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
            cityHash64({{noise:UInt64}}, 'ev', user_id, {{dn:Int64}}) AS h_day,
            arrayMap(number -> {session_start}, range(n_sess)) AS starts,
            least(0.95, ctr * {_ctr_multiplier(ctx, day)}) AS ctr_eff
        FROM ({users_sql(ctx, adjustments, slot_start, slot_end)})
        WHERE svc != 1
    )
)
ARRAY JOIN if(liked, [0, 1], [0]) AS is_like"""
    hashes = (
        "(cityHash64({{seed:UInt64}}, '{tag}', user_id, {{dn:Int64}}, j, is_like) / 18446744073709551616.)",
        "(cityHash64({{seed:UInt64}}, '{tag}', user_id) / 18446744073709551616.)",
    )
    rows = _apply_anomalies(ctx, inner, FEED_COLUMNS, "feed", params, live, hashes)
    return f"WITH {number_array(session_start_table)} AS qfeed\n{rows}", params


def message_select(
    ctx: Context, day: dt.date, slot_start: int, slot_end: int, live: bool = False
) -> tuple[str, dict[str, Any]]:
    """SELECT producing the messenger rows of one day (one user-slot chunk)."""
    params = ctx.base_params(day)
    adjustments = signup_adjustments(ctx, day_number(day))
    message_time_table = ctx.model.messenger_quantiles()
    inner = f"""
SELECT
    user_id, gender, age, country, city, os, source, exp_group, j,
    toUInt32(s2 * {ctx.capacity} + floor(bitShiftRight(hr, 32) / 4294967296. * {new_users_expr(ctx, "s2")}) + 1)
        AS r0,
    if(r0 = user_id, r0 + 1, r0) AS reciever_id,
    toDateTime({{d:Date}}) + toUInt32({inverse_cdf("qmsg", "bitShiftRight(h, 32) / 4294967296.")}) AS time
FROM (
    SELECT *,
        arrayJoin(range(n_msgs)) AS j,
        cityHash64({{noise:UInt64}}, 'msg', user_id, {{dn:Int64}}, j) AS h,
        bitAnd(h, 4294967295) % n_contacts AS contact,
        cityHash64({{seed:UInt64}}, 'rcv', user_id, contact) AS hr,
        least(toInt64({{dn:Int64}}), s - 60 + toInt64(bitAnd(hr, 4294967295) % 121)) AS s2
    FROM ({users_sql(ctx, adjustments, slot_start, slot_end)})
    WHERE svc != 0
)"""
    hashes = (
        "(cityHash64({{seed:UInt64}}, '{tag}', user_id, {{dn:Int64}}, j) / 18446744073709551616.)",
        "(cityHash64({{seed:UInt64}}, '{tag}', user_id) / 18446744073709551616.)",
    )
    rows = _apply_anomalies(ctx, inner, MESSAGE_COLUMNS, "messages", params, live, hashes)
    return f"WITH {number_array(message_time_table)} AS qmsg\n{rows}", params


def chunks(ctx: Context, events_per_chunk: float = 3e7) -> list[tuple[int, int]]:
    """User-slot ranges [start, end) so that one statement generates at most ≈ ``events_per_chunk`` rows."""
    events_per_day = 900_000 * ctx.scale
    n_chunks = max(1, math.ceil(events_per_day / events_per_chunk))
    step = math.ceil(ctx.base_slots / n_chunks)
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
    for slot_start, slot_end in chunks(ctx):
        sql, params = feed_select(ctx, day, slot_start, slot_end, live)
        out.append(("feed_actions", f"INSERT INTO {db}.{feed} ({FEED_COLUMNS})\n{sql}", params))
    for slot_start, slot_end in chunks(ctx, events_per_chunk=1e12):
        sql, params = message_select(ctx, day, slot_start, slot_end, live)
        out.append(("message_actions", f"INSERT INTO {db}.{messages} ({MESSAGE_COLUMNS})\n{sql}", params))
    return out
