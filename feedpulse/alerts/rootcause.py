"""Root-cause harness: plant a change confined to one segment, run the detector and the explainer, and
check that the explainer names the planted segment.

Per seed (``run_rootcause``):

1. Simulate ``history_days`` clean days and ``test_days`` test days into a scratch database. For each
   test day in turn (steps 1–3; the days before it are clean): read the clean test day's totals at every
   planted bucket.
2. Plan ``per_day`` plants on the test day, one bucket (15 min) each, at least ``spacing`` buckets
   apart between 08:00 and 23:45: a metric (views, likes, feed_users, messages), a segment — a single
   dimension value or a pair of values of two dimensions (country × city excluded: a city lies in one
   country) — whose share of the metric in the clean baseline is 5–60 %, a magnitude of 20–80 %, a
   drop or (event metrics) a spike. The plants go through the simulator's anomaly file
   (:mod:`feedpulse.simulator.anomalies`), and the test day is simulated again with them.
3. For each plant: the detector's evaluation of the bucket in the ``total`` slice (its expected value)
   and the explainer's ranking (:func:`feedpulse.alerts.explain.explain`) from the bucket's cells and
   the same slots of the previous days (:func:`feedpulse.alerts.segments.load_cells`). The test day is
   then simulated again without plants, so that the next test day's history is clean.

Several test days give more plants per seed with independent noise (each day draws its own); the first
test day's plants are the same whatever ``test_days`` is. Hit rates come with a 95 % Wilson interval
(plants treated as independent) and, over seeds, their mean and worst seed.

**Hit**: the explainer's first (top-1) or one of its first three (top-3) segments is the planted one —
or, for a planted pair, one of its two single-dimension parents. **Carried share**: the planted
change (anomalous − clean total of the bucket: the plant is the only difference) over the deviation
the explainer explains (anomalous total − the detector's expectation); the targets are about plants
carrying ≥ 20 % of it (a small plant on top of a large unrelated deviation cannot be the top cause).

**Ceiling** (``ceiling_replicas`` > 0, :func:`ceiling`): after a test day is judged, that many clean
replicas of it (the seed's population, other noise seeds) are simulated into a second scratch database,
and :mod:`feedpulse.alerts.rootcause_ceiling` answers each plant knowing every candidate segment's true
mean and noise in its bucket and the harness's own prior (the slot's pool, magnitudes, signs): the best
hit rates the data allow, reported beside the explainer's on the same plants. Two ceilings: the
*counts ceiling* reads the metric's own counts only; the *ceiling* also knows how a
plant acts — it changes a views plant's views per user and a likes plant's likes per view, and a messages spike
copies messages to the same senders — and reads the segment's users (views), views (likes) or senders (messages
spikes; a drop removes senders with their messages and is read on the messages), which such a plant leaves alone
(:data:`CEILING_COVARIATES`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from feedpulse.alerts.config import AlertsConfig, default_config
from feedpulse.alerts.detector import Detector
from feedpulse.alerts.explain import DIMENSIONS, DRIVER_ON_SPIKES_ONLY, REDUNDANT_PAIRS, SLOT, explain
from feedpulse.alerts.rootcause_ceiling import Segment, best_answers, fit_truth, posterior, segment_totals
from feedpulse.alerts.segments import load_cells, table_of
from feedpulse.alerts.series import load_series, stream
from feedpulse.scratch import scratch_database

PLANT_METRICS = ("views", "likes", "feed_users", "messages")
EVENT_METRICS = ("views", "likes", "messages")
SHARE_RANGE = (0.05, 0.60)
MAGNITUDE_RANGE = (0.2, 0.8)
CARRY_TARGET = 0.2
TEST_DAYS = 3  # test days per seed (``per_day`` plants each): ≈ 60 plants per seed
TARGETS = {"top1": 0.8, "top3": 0.95}
DEFAULT_START = dt.date(2024, 3, 4)  # a Monday


@dataclass(frozen=True)
class Plant:
    metric: str
    segment: tuple[tuple[str, str], ...]
    share: float  # of the metric in the clean baseline
    change: float  # −0.6 = drop by 60 %
    bucket: dt.datetime


# receives (plant, current cells, baseline cells, the detector's expectation): the explainer's input, for re-runs
KeepCells = Callable[[tuple["Plant", pd.DataFrame, pd.DataFrame, float]], None]


@dataclass(frozen=True)
class Outcome:
    plant: Plant
    fired: bool
    z: float
    carried: float
    top: tuple[tuple[tuple[str, str], ...], ...]
    top1: bool
    top3: bool
    seed: int | None = None
    test_day: int = 0  # 0 = the first test day of the seed
    # the ceilings' answers (:func:`ceiling`); None: not run. ``ceiling``: knowing how plants act (a covariate
    # count they leave alone); ``counts_ceiling``: from the metric's own counts only
    ceiling_top: tuple[Segment, ...] = ()
    ceiling_top1: bool | None = None
    ceiling_top3: bool | None = None
    counts_ceiling_top: tuple[Segment, ...] = ()
    counts_ceiling_top1: bool | None = None
    counts_ceiling_top3: bool | None = None


def _anomaly_value(dimension: str, value: str) -> str | int:
    return int(value) if dimension in ("gender", "exp_group") else value


def anomaly_entries(plants: Sequence[Plant]) -> list[dict[str, Any]]:
    """The plants as entries of the simulator's anomaly file."""
    return [
        {
            "name": f"plant {i}",
            "metric": p.metric,
            "start": p.bucket.strftime("%Y-%m-%d %H:%M"),
            "duration": "15m",
            "change": round(p.change, 4),
            "segment": {d: _anomaly_value(d, v) for d, v in p.segment},
        }
        for i, p in enumerate(plants)
    ]


def candidate_segments(cells: pd.DataFrame, metric: str) -> list[tuple[tuple[tuple[str, str], ...], float]]:
    """Single values and pairs with a share of ``metric`` within :data:`SHARE_RANGE` (sorted, deterministic)."""
    total = float(cells[metric].sum())
    out = []
    groups = [(d,) for d in DIMENSIONS] + [
        p for p in itertools.combinations(DIMENSIONS, 2) if frozenset(p) not in REDUNDANT_PAIRS
    ]
    for dims in groups:
        shares = cells.groupby(list(dims))[metric].sum() / total
        for key, share in sorted(shares.items()):
            values = key if isinstance(key, tuple) else (key,)
            if SHARE_RANGE[0] <= share <= SHARE_RANGE[1]:
                out.append((tuple((d, str(v)) for d, v in zip(dims, values, strict=True)), float(share)))
    return out


def candidates_of(baseline: dict[str, pd.DataFrame]) -> dict[str, list[tuple[Segment, float]]]:
    """Each plant metric's candidate segments (:func:`candidate_segments`) in the clean baseline cells."""
    return {m: candidate_segments(baseline["message" if m == "messages" else "feed"], m) for m in PLANT_METRICS}


def slot_pool(candidates: dict[str, list[tuple[Segment, float]]], k: int) -> tuple[str, list[tuple[Segment, float]]]:
    """The ``k``-th plant's metric and the pool its segment is drawn from (uniformly): metrics in turn,
    singles and pairs alternating every round of metrics (all candidates when the pool would be empty)."""
    metric = PLANT_METRICS[k % len(PLANT_METRICS)]
    pairs = k // len(PLANT_METRICS) % 2 == 1
    return metric, [c for c in candidates[metric] if (len(c[0]) == 2) == pairs] or candidates[metric]


def plan(
    baseline: dict[str, pd.DataFrame], day: dt.date, rng: np.random.Generator, per_day: int, spacing: int
) -> list[Plant]:
    """``per_day`` plants on ``day`` (see the module doc); ``baseline``: clean cells per table."""
    first = dt.datetime.combine(day, dt.time(8, 0))
    slots = [first + dt.timedelta(minutes=15 * spacing * k) for k in range(per_day)]
    if slots[-1] > dt.datetime.combine(day, dt.time(23, 45)):
        raise ValueError(f"{per_day} plants {spacing} buckets apart do not fit between 08:00 and 23:45")
    candidates = candidates_of(baseline)
    plants = []
    for k, bucket in enumerate(slots):
        metric, pool = slot_pool(candidates, k)
        segment, share = pool[int(rng.integers(len(pool)))]
        magnitude = float(rng.uniform(*MAGNITUDE_RANGE))
        sign = 1 if metric in EVENT_METRICS and rng.random() < 0.5 else -1
        plants.append(Plant(metric, segment, share, sign * magnitude, bucket))
    return plants


def _hit(top: Sequence[tuple[tuple[str, str], ...]], planted: tuple[tuple[str, str], ...]) -> bool:
    accepted = {planted} | ({(part,) for part in planted} if len(planted) > 1 else set())
    return any(t in accepted for t in top)


def judge(
    client: Any,
    database: str,
    plant: Plant,
    clean_total: float,
    config: AlertsConfig,
    frame: pd.DataFrame,
    baseline_days: int,
    keep_cells: KeepCells | None = None,
) -> Outcome:
    """Detector + explainer at the plant's bucket, in the ``total`` slice (``frame``: ``load_series``).
    ``keep_cells((plant, current, baseline, expected))`` receives the explainer's input (offline re-runs)."""
    bucket = pd.Timestamp(plant.bucket)
    metric = config.metrics[plant.metric]
    history = stream(frame, plant.metric, "total")
    history = history[history.index <= bucket]
    volume = stream(frame, metric.volume_metric, "total") if metric.volume_metric else None
    users = stream(frame, metric.per_user_of, "total") if metric.per_user_of else None
    evaluation = Detector(metric, config.detector).evaluate(history, bucket, volume=volume, users=users)
    current, baseline = load_cells(
        client, plant.metric, plant.bucket, source=database, days=baseline_days,
        halfwidth=config.detector.slot_halfwidth, by_slot=True,
    )  # fmt: skip
    if keep_cells is not None:
        keep_cells((plant, current, baseline, float(evaluation.expected)))
    result = explain(current, baseline, plant.metric, expected_total=evaluation.expected, driver=metric.per_user_of)
    deviation = result.observed - evaluation.expected
    carried = (result.observed - clean_total) / deviation if deviation else 0.0
    top = tuple(s.segment for s in result.top(3))
    return Outcome(plant, evaluation.status == "firing", float(evaluation.z), float(carried), top,
                   _hit(top[:1], plant.segment), _hit(top, plant.segment))  # fmt: skip


def _totals(client: Any, database: str, plants: Sequence[Plant]) -> list[float]:
    out = []
    for p in plants:
        current, _ = load_cells(client, p.metric, p.bucket, source=database, days=1, halfwidth=0)
        out.append(float(current[p.metric].sum()))
    return out


def run_seed(
    client: Any,
    seed: int,
    *,
    config: AlertsConfig | None = None,
    scale: float = 1.0,
    history_days: int = 15,
    per_day: int = 20,
    spacing: int = 3,
    start: dt.date = DEFAULT_START,
    test_days: int = TEST_DAYS,
    keep_cells: KeepCells | None = None,
    ceiling_replicas: int = 0,
) -> list[Outcome]:
    """Plants of one seed (see the module doc), in a scratch database dropped afterwards. ``ceiling_replicas``
    > 0: each plant also gets the ceiling's answers (:func:`ceiling`; that many clean replicas per test day)."""
    from feedpulse.simulator import simulate
    from feedpulse.simulator.anomalies import parse_anomalies

    if test_days < 1:
        raise ValueError(f"test_days must be ≥ 1, got {test_days}")
    config = config or default_config()
    rng = np.random.default_rng(seed)
    first = dt.datetime.combine(start, dt.time())
    outcomes: list[Outcome] = []
    with scratch_database(client, None) as database:
        simulate(client, start=start, days=history_days + test_days, scale=scale, seed=seed, database=database)
        for index in range(test_days):
            day = start + dt.timedelta(days=history_days + index)
            noon = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(8, 0))
            baseline = {
                table: load_cells(client, metric, noon, source=database, days=1, halfwidth=0, width_buckets=64)[0]
                for table, metric in (("feed", "views"), ("message", "messages"))
            }
            plants = plan(baseline, day, rng, per_day, spacing)
            clean = _totals(client, database, plants)
            spec = parse_anomalies(anomaly_entries(plants))
            simulate(client, start=day, days=1, scale=scale, seed=seed, database=database, anomalies=spec)
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
            frame = load_series(client, first, end, database=database, slices=["total"])
            judged = []
            for p, total in zip(plants, clean, strict=True):
                outcome = judge(client, database, p, total, config, frame, history_days, keep_cells)
                judged.append(dataclasses.replace(outcome, seed=seed, test_day=index))
            if ceiling_replicas:
                candidates = candidates_of(baseline)  # plan's: the ceiling's prior is the harness's own
                pools = [slot_pool(candidates, k)[1] for k in range(len(plants))]
                judged = ceiling(client, database, judged, pools, seed=seed, scale=scale, replicas=ceiling_replicas)
            outcomes += judged
            if index + 1 < test_days:  # the next test day's history: this day without its plants
                simulate(client, start=day, days=1, scale=scale, seed=seed, database=database)
        return outcomes


def _plant_cells(client: Any, database: str, plants: Sequence[Plant]) -> list[pd.DataFrame]:
    """Each plant's bucket's cells (its table's metrics), read with one query per table."""
    out: list[pd.DataFrame | None] = [None] * len(plants)
    for table in sorted({table_of(p.metric) for p in plants}):
        mine = [i for i, p in enumerate(plants) if table_of(p.metric) == table]
        first = min(plants[i].bucket for i in mine)
        span = int((max(plants[i].bucket for i in mine) - first) / dt.timedelta(minutes=15)) + 1
        cells, _ = load_cells(client, plants[mine[0]].metric, first, source=database, days=1, halfwidth=0,
                              width_buckets=span, by_slot=True)  # fmt: skip
        slots = pd.to_datetime(cells[SLOT]) if len(cells) else pd.Series(dtype="datetime64[ns]")
        if getattr(slots.dt, "tz", None) is not None:  # the server's zone: the buckets are its wall-clock times
            slots = slots.dt.tz_localize(None)
        for i in mine:
            out[i] = cells[(slots == pd.Timestamp(plants[i].bucket)).to_numpy()].drop(columns=SLOT)
    return [c for c in out if c is not None]


# A count of the segment that a plant of the metric leaves alone: the ceiling expects the metric from it
# (feedpulse.alerts.rootcause_ceiling.log_evidence). Messages' senders are left alone by spikes only (a spike copies
# messages to the same senders; a drop removes a sender with their only message), so the ceiling reads them for
# spikes and the messages alone for drops (rootcause_ceiling.posterior's ``drops_on``) — the fact the explainer's
# DRIVER_ON_SPIKES_ONLY states, so the ceiling reads that set
CEILING_COVARIATES = {"views": "feed_users", "likes": "views", "messages": "messenger_users"}
CEILING_NOISE = 2**33  # the ceiling's replicas' noise seeds: CEILING_NOISE + 64·seed + k, never a seed itself


def ceiling(
    client: Any,
    database: str,
    outcomes: Sequence[Outcome],
    pools: Sequence[list[tuple[Segment, float]]],
    *,
    seed: int,
    scale: float,
    replicas: int,
) -> list[Outcome]:
    """The outcomes of one test day with both ceilings' answers (:mod:`feedpulse.alerts.rootcause_ceiling`;
    the module doc): ``replicas`` clean runs of the day (the seed's population, other noise seeds) give each
    candidate segment's true mean and noise in the plant's bucket; ``database`` holds the day with its plants."""
    from feedpulse.simulator import simulate

    if replicas < 2:
        raise ValueError(f"the ceiling needs at least 2 replicas, got {replicas}")
    day = outcomes[0].plant.bucket.date()
    segments = [[segment for segment, _ in pool] for pool in pools]

    def totals(source: str) -> list[tuple[np.ndarray, float, np.ndarray | None]]:
        """Per plant: its segments' counts, the bucket's total and the segments' covariate counts."""
        cells = _plant_cells(client, source, [o.plant for o in outcomes])
        out = []
        for c, o, segs in zip(cells, outcomes, segments, strict=True):
            covariate = CEILING_COVARIATES.get(o.plant.metric)
            out.append((segment_totals(c, o.plant.metric, segs), float(c[o.plant.metric].sum()),
                        segment_totals(c, covariate, segs) if covariate else None))  # fmt: skip
        return out

    observed = totals(database)
    runs: list[list[tuple[np.ndarray, float, np.ndarray | None]]] = [[] for _ in outcomes]
    with scratch_database(client, None) as replica_db:
        for k in range(replicas):
            simulate(client, start=day, days=1, scale=scale, seed=seed, database=replica_db,
                     noise_seed=CEILING_NOISE + 64 * seed + k)  # fmt: skip
            for i, values in enumerate(totals(replica_db)):
                runs[i].append(values)
    out = []
    for o, segs, (seen, bucket, seen_covariate), values in zip(outcomes, segments, observed, runs, strict=True):
        signs = (-1, 1) if o.plant.metric in EVENT_METRICS else (-1,)
        counts, totals = np.vstack([v for v, _, _ in values]), np.array([t for _, t, _ in values])
        covariates = None if seen_covariate is None else np.vstack([c for _, _, c in values])
        fields = {}
        counts_truth = fit_truth(counts, totals, segs)
        drops_on = counts_truth if o.plant.metric in DRIVER_ON_SPIKES_ONLY else None
        for name, truth, covariate, drops in (
            ("ceiling", fit_truth(counts, totals, segs, covariates), seen_covariate, drops_on),
            ("counts_ceiling", counts_truth, None, None),
        ):
            probability = posterior(seen, bucket, truth, signs, MAGNITUDE_RANGE, covariate, drops)
            answers = tuple(best_answers(segs, probability, 3))
            fields |= {f"{name}_top": answers, f"{name}_top1": _hit(answers[:1], o.plant.segment),
                       f"{name}_top3": _hit(answers, o.plant.segment)}  # fmt: skip
        out.append(dataclasses.replace(o, **fields))
    return out


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``hits / n`` (95 % for z = 1.96); None when n = 0."""
    if n <= 0:
        return None
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(centre - half, 0.0), min(centre + half, 1.0))


def rates(items: Sequence[Outcome]) -> dict[str, Any]:
    """n, top-1 and top-3 hit rates and their 95 % Wilson intervals."""
    if not items:
        return {"n": 0, "top1": None, "top3": None, "top1_ci": None, "top3_ci": None}
    top1, top3 = sum(o.top1 for o in items), sum(o.top3 for o in items)
    n = len(items)
    out = {"n": n, "top1": top1 / n, "top3": top3 / n, "top1_ci": wilson(top1, n), "top3_ci": wilson(top3, n)}
    for name in CEILINGS:  # the ceilings on the same plants, and the explainer's hit rates as a share of theirs
        judged = [o for o in items if getattr(o, f"{name}_top1") is not None]
        if not judged:
            continue
        c1, c3 = (sum(bool(getattr(o, f"{name}_top{k}")) for o in judged) for k in (1, 3))
        e1, e3 = sum(o.top1 for o in judged), sum(o.top3 for o in judged)
        out[name] = {"n": len(judged), "top1": c1 / len(judged), "top3": c3 / len(judged),
                     "top1_ci": wilson(c1, len(judged)), "top3_ci": wilson(c3, len(judged)),
                     "share_top1": e1 / c1 if c1 else None, "share_top3": e3 / c3 if c3 else None}  # fmt: skip
    return out


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Hit rates over plants carrying ≥ 20 % of the deviation (the targets) and breakdowns."""

    carrying = [o for o in outcomes if o.carried >= CARRY_TARGET]
    return {
        "carrying_20_plus": rates(carrying),
        "carrying_20_plus_fired": rates([o for o in carrying if o.fired]),
        "carrying_under_20": rates([o for o in outcomes if o.carried < CARRY_TARGET]),
        "all": rates(outcomes),
        "single": rates([o for o in carrying if len(o.plant.segment) == 1]),
        "pair": rates([o for o in carrying if len(o.plant.segment) == 2]),
        "share_5_20": rates([o for o in carrying if o.plant.share < 0.2]),
        "share_20_60": rates([o for o in carrying if o.plant.share >= 0.2]),
        "by_metric": {m: rates([o for o in carrying if o.plant.metric == m]) for m in PLANT_METRICS},
        "fired": float(np.mean([o.fired for o in outcomes])) if outcomes else None,
    }


OVER_SEEDS = ("carrying_20_plus", "carrying_20_plus_fired")


CEILINGS = ("ceiling", "counts_ceiling")
FIGURES = ("top1", "top3", *(f"{name}_{k}" for name in CEILINGS for k in ("top1", "top3")))


def _figure(group: dict[str, Any], figure: str) -> float | None:
    """``top1``/``top3`` of the explainer, ``<ceiling>_top1``/``…_top3`` of a ceiling (None: not run)."""
    name, _, key = figure.rpartition("_")
    return group.get(name, {}).get(key) if name else group[figure]


def over_seeds(per_seed: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Group (``carrying_20_plus``, ``…_fired``) → top1/top3 (and the ceilings' ``ceiling_top1`` …
    ``counts_ceiling_top3`` when they ran) → mean over seeds, worst seed and its value
    (seeds without plants in the group are skipped; the mean is unweighted: every seed counts alike)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group in OVER_SEEDS:
        out[group] = {}
        for figure in FIGURES:
            values = {s: v for s, r in per_seed.items() if (v := _figure(r[group], figure)) is not None}
            if not values and "ceiling" in figure:
                continue  # the ceiling was not run
            if not values:
                out[group][figure] = {"mean": None, "worst": None, "worst_seed": None, "seeds": 0}
                continue
            worst = min(values, key=values.__getitem__)
            out[group][figure] = {"mean": float(np.mean(list(values.values()))), "worst": values[worst],
                                  "worst_seed": int(worst), "seeds": len(values)}  # fmt: skip
    return out


def run_rootcause(client: Any, seeds: Sequence[int], **kwargs: Any) -> dict[str, Any]:
    """Per seed and pooled summaries, mean and worst over seeds, plus every plant's outcome."""
    per_seed, pooled = {}, []
    for seed in seeds:
        outcomes = run_seed(client, seed, **kwargs)
        per_seed[str(seed)] = summarise(outcomes)
        pooled += outcomes
    return {
        "per_seed": per_seed,
        "pooled": summarise(pooled),
        "over_seeds": over_seeds(per_seed),
        "targets": TARGETS,
        "plants": [_outcome_dict(o) for o in pooled],
    }


def _outcome_dict(outcome: Outcome) -> dict[str, Any]:
    data = asdict(outcome)
    data["plant"]["bucket"] = outcome.plant.bucket.isoformat()
    data["plant"]["segment"] = " · ".join(f"{d}={v}" for d, v in outcome.plant.segment)
    data["top"] = [" · ".join(f"{d}={v}" for d, v in t) for t in outcome.top]
    for name in CEILINGS:
        data[f"{name}_top"] = [" · ".join(f"{d}={v}" for d, v in t) for t in getattr(outcome, f"{name}_top")]
    return data
