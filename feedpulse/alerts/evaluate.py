"""Evaluation harness: the feedpulse detector vs the original rules on simulated weeks with known anomalies.

Procedure (``run_evaluation``):

1. Simulate ``warmup_days + 7·weeks`` days into a scratch database (``feedpulse_scratch_<uuid>``,
   created for the run and dropped after it: :mod:`feedpulse.scratch`) and load the 15-minute series
   of every metric for the ``total`` and ``os`` slices (``load_series``).
2. **Clean run**: every detector over the untouched series; alert events in the evaluated weeks are
   false alerts (reported per metric per week, a metric's slices summed, and per series per week).
3. **Injected run**: into the evaluated weeks of each series, ``events_per_week`` anomalies at random
   times (day and night), at least ``MIN_GAP`` buckets apart, types and magnitudes balanced over
   all series: spikes (up, 1–2 buckets), drops (down, 1–3), level shifts (±, 3–4), ramps (±, 3–4,
   growing linearly to the magnitude), zeros (1–4) and missing buckets (1–4); magnitudes 15/20/30/40/60 %.
   Counts are thinned binomially (drops) or get Poisson extra (spikes); CTR is scaled.
   Each series gets its own anomalies: one injected into views is not injected into feed_users.
   A per-user metric (``per_user_of``) is judged with the users series of its slice — the clean one
   in the clean run, the injected one (with the users' own anomalies) in the injected run — so its
   ground truth is its own events only.

4. **Limit detector** (``--seeds`` runs, :func:`limit_replicas`, :func:`limit_detector`): a ceiling, not a
   competitor — it knows each bucket's true expectation (the mean of clean replicas of the seed's own
   population drawn with other noise seeds) and the noise's dispersion, and fires on the tail probability
   with its threshold set to feedpulse's own false-alert budget.

Definitions:

- An anomaly is **detected** when the detector fires (firing or no-data) in any bucket while it is
  active; **delay** = first firing bucket − start (0 = in the first anomalous bucket).
- An **alert event** is a run of consecutive firing buckets; **precision** = alert events that overlap
  an injected anomaly / all alert events of the injected run.
- **Recall** = detected / injected anomalies; per magnitude band, per type, per period (day 08–24,
  night 00–08), and restricted to **volume ≥ 100** (the clean value of the anomalous buckets; the
  clean views for CTR): the volume the targets are about.
- **F1** = harmonic mean of overall recall (all types) and precision.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from feedpulse.alerts import baselines
from feedpulse.alerts.config import AlertsConfig, MetricConfig, default_config
from feedpulse.alerts.detector import Detector
from feedpulse.alerts.series import BUCKETS_PER_DAY, load_series, stream
from feedpulse.scratch import scratch_database

MAGNITUDES = (0.15, 0.2, 0.3, 0.4, 0.6)
SHAPED_TYPES = ("spike", "drop", "level_shift", "ramp")
DATA_TYPES = ("zero", "missing")
DURATIONS = {"spike": (1, 2), "drop": (1, 3), "level_shift": (3, 4), "ramp": (3, 4), "zero": (1, 4), "missing": (1, 4)}
MIN_GAP = 24  # clean buckets after an anomaly before the next one in the same series
LARGE_VOLUME = 100.0
EVAL_SLICES = ("total", "os")
DEFAULT_START = dt.date(2024, 3, 4)  # a Monday
DETECTORS = ("feedpulse", "yesterday_pct", "iqr")
# alerts.yaml and the explainer's constants were tuned on 42 and 7; the explainer was also developed on 1–6
# (2026-12-02: the measured noise of messages per sender) and explored on 8–20 (2026-12-02, eighth session: leads
# that did not clear the noise, BENCHMARKS). Report on others
TUNING_SEEDS = (42, *range(1, 21))
TARGETS = {"recall_30_plus": 0.9, "recall_20": 0.7, "within_1_bucket": 0.8, "false_alerts_per_metric_week": 2.0}

FlagFunction = Callable[[pd.Series, MetricConfig, pd.Series | None, pd.Series | None], np.ndarray]


@dataclass(frozen=True)
class Event:
    """One injected anomaly (positions are indices into the evaluated range)."""

    metric: str
    slice: str
    kind: str
    magnitude: float | None  # None for zero / missing
    sign: int
    start: int
    length: int
    volume: float
    hour: int

    @property
    def end(self) -> int:
        return self.start + self.length - 1

    @property
    def band(self) -> str | None:
        return None if self.magnitude is None else str(round(self.magnitude * 100))


@dataclass
class StreamData:
    """A metric of a slice: clean values (warm-up + evaluated) and its volume series."""

    metric: str
    slice: str
    clean: pd.Series
    volume: pd.Series | None
    injected: pd.Series | None = None
    events: list[Event] = field(default_factory=list)
    users: pd.Series | None = None  # clean per_user_of series of the slice (per-user metrics)


# --------------------------------------------------------------------------------------------- injection


def _combos(total: int, rng: np.random.Generator) -> list[tuple[str, float | None]]:
    cycle = [(kind, m) for kind in SHAPED_TYPES for m in MAGNITUDES] + [(k, None) for k in DATA_TYPES for _ in (0, 1)]
    combos = (cycle * (total // len(cycle) + 1))[:total]
    order = rng.permutation(total)
    return [combos[i] for i in order]


def _factors(kind: str, magnitude: float | None, sign: int, length: int) -> np.ndarray:
    if kind == "zero":
        return np.zeros(length)
    if kind == "missing":
        return np.full(length, np.nan)
    assert magnitude is not None
    steps = np.arange(1, length + 1) / length if kind == "ramp" else np.ones(length)
    return 1 + sign * magnitude * steps


def _apply(values: np.ndarray, factors: np.ndarray, ratio: bool, rng: np.random.Generator) -> np.ndarray:
    out = values.copy()
    for i, f in enumerate(factors):
        x = values[i]
        if np.isnan(f) or np.isnan(x):
            out[i] = np.nan
        elif ratio:
            out[i] = min(x * f, 1.0)
        elif f <= 1:
            out[i] = rng.binomial(int(x), f)
        else:
            out[i] = x + rng.poisson(x * (f - 1))
    return out


def plan_and_inject(streams: list[StreamData], eval_start: int, events_per_week: int, seed: int) -> None:
    """Choose balanced anomalies for every stream and build its injected series."""
    rng = np.random.default_rng(seed)
    n_eval = len(streams[0].clean) - eval_start
    weeks = n_eval / (7 * BUCKETS_PER_DAY)
    per_stream = max(round(events_per_week * weeks), 1)
    combos = _combos(per_stream * len(streams), rng)
    slot = n_eval // per_stream
    for s_index, data in enumerate(streams):
        values = data.clean.to_numpy(dtype=float).copy()
        volume = (data.volume if data.volume is not None else data.clean).to_numpy(dtype=float)
        ratio = data.volume is not None
        for k in range(per_stream):
            kind, magnitude = combos[s_index * per_stream + k]
            sign = -1 if kind in ("drop", "zero", "missing") else 1 if kind == "spike" else int(rng.choice([-1, 1]))
            lo, hi = DURATIONS[kind]
            length = int(rng.integers(lo, hi + 1))
            start = k * slot + int(rng.integers(2, max(slot - length - MIN_GAP, 3)))
            pos = eval_start + start
            window = slice(pos, pos + length)
            values[window] = _apply(values[window], _factors(kind, magnitude, sign, length), ratio, rng)
            hour = int(data.clean.index[pos].hour)
            event_volume = float(np.nanmean(volume[window]))
            data.events.append(Event(data.metric, data.slice, kind, magnitude, sign, start, length, event_volume, hour))
        data.injected = pd.Series(values, index=data.clean.index, name=data.clean.name)


# --------------------------------------------------------------------------------------------- detectors


def detector_functions(config: AlertsConfig) -> dict[str, FlagFunction]:
    """name → function(series, metric config, volume, users) → fired flags (bool array)."""

    def feedpulse(
        series: pd.Series, metric: MetricConfig, volume: pd.Series | None, users: pd.Series | None = None
    ) -> np.ndarray:
        return Detector(metric, config.detector).run(series, volume, users).fired

    return {
        "feedpulse": feedpulse,
        "yesterday_pct": lambda s, m, v, u=None: baselines.yesterday_pct(s, 0.3).to_numpy(),
        "iqr": lambda s, m, v, u=None: baselines.iqr(s).to_numpy(),
        "yesterday_pct_20": lambda s, m, v, u=None: baselines.yesterday_pct(s, 0.2).to_numpy(),
    }


def alert_runs(fired: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of consecutive True values."""
    padded = np.concatenate([[False], fired.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


@dataclass
class Tally:
    """Raw counts for one detector, turned into the report by :meth:`summary`."""

    events: list[tuple[Event, int | None]] = field(default_factory=list)  # (event, delay or None)
    alert_events: int = 0
    true_alert_events: int = 0
    clean_alert_events: int = 0
    clean_by_metric: dict[str, int] = field(default_factory=dict)

    def add_injected(self, fired: np.ndarray, events: list[Event]) -> None:
        for event in events:
            hits = np.flatnonzero(fired[event.start : event.end + 1])
            self.events.append((event, int(hits[0]) if hits.size else None))
        for first, last in alert_runs(fired):
            self.alert_events += 1
            if any(first <= e.end and last >= e.start for e in events):
                self.true_alert_events += 1

    def add_clean(self, fired: np.ndarray, metric: str) -> None:
        count = len(alert_runs(fired))
        self.clean_alert_events += count
        self.clean_by_metric[metric] = self.clean_by_metric.get(metric, 0) + count

    def summary(self, weeks: float, n_metrics: int, n_series: int) -> dict[str, Any]:
        recall = _recall(self.events)
        precision = self.true_alert_events / self.alert_events if self.alert_events else 0.0
        delays = [d for _, d in self.events if d is not None]
        large = [(e, d) for e, d in self.events if e.volume >= LARGE_VOLUME]
        shaped_large = [(e, d) for e, d in large if e.magnitude is not None]
        return {
            "recall_by_magnitude": _by(self.events, lambda e: e.band, [str(round(m * 100)) for m in MAGNITUDES]),
            "recall_large_volume_by_magnitude": _by(large, lambda e: e.band, [str(round(m * 100)) for m in MAGNITUDES]),
            "recall_large_volume_30_plus": _recall([(e, d) for e, d in shaped_large if e.magnitude >= 0.3]),
            "recall_by_type": _by(self.events, lambda e: e.kind, list(SHAPED_TYPES + DATA_TYPES)),
            "recall_by_metric": _by(self.events, lambda e: e.metric, sorted({e.metric for e, _ in self.events})),
            "recall_by_period": _by(self.events, lambda e: "night" if e.hour < 8 else "day", ["day", "night"]),
            "recall": recall,
            "recall_large_volume": _recall(large),
            "precision": precision,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "median_delay_buckets": float(np.median(delays)) if delays else None,
            "within_1_bucket": float(np.mean([d <= 1 for d in delays])) if delays else None,
            "false_alerts_per_metric_week": self.clean_alert_events / (n_metrics * weeks),
            "false_alerts_per_series_week": self.clean_alert_events / (n_series * weeks),
            "false_alerts_by_metric_week": {m: c / weeks for m, c in sorted(self.clean_by_metric.items())},
            "alert_events": self.alert_events,
            "events": len(self.events),
            "events_large_volume": len(large),
        }


def _recall(items: list[tuple[Event, int | None]]) -> float | None:
    return float(np.mean([d is not None for _, d in items])) if items else None


def _by(items: list[tuple[Event, int | None]], key: Callable[[Event], str | None], keys: list[str]) -> dict[str, Any]:
    return {k: _recall([(e, d) for e, d in items if key(e) == k]) for k in keys}


# --------------------------------------------------------------------------------------------- run


def build_streams(frame: pd.DataFrame, config: AlertsConfig) -> list[StreamData]:
    slices = list(dict.fromkeys(frame.index.get_level_values("slice")))
    out = []
    for name, metric in config.metrics.items():
        for label in slices:
            ratio = metric.kind == "ratio" and metric.volume_metric
            volume = stream(frame, metric.volume_metric, label) if ratio else None
            users = stream(frame, metric.per_user_of, label) if metric.per_user_of else None
            out.append(StreamData(name, label, stream(frame, name, label), volume, users=users))
    return out


def _injected_users(data: StreamData, streams: list[StreamData], config: AlertsConfig) -> pd.Series | None:
    """The users series a per-user metric sees in the injected run: the users stream's injected copy."""
    if data.users is None:
        return None
    per_user = config.metrics[data.metric].per_user_of
    for other in streams:
        if other.metric == per_user and other.slice == data.slice and other.injected is not None:
            return other.injected
    return data.users


def score(streams: list[StreamData], config: AlertsConfig, eval_start: int, weeks: float) -> dict[str, dict[str, Any]]:
    """Run every detector on the clean and the injected series; summaries per detector."""
    functions = detector_functions(config)
    tallies = {name: Tally() for name in functions}
    for data in streams:
        metric = config.metrics[data.metric]
        assert data.injected is not None
        users_injected = _injected_users(data, streams, config)
        for name, function in functions.items():
            clean = function(data.clean, metric, data.volume, data.users)
            tallies[name].add_clean(clean[eval_start:], data.metric)
            injected = function(data.injected, metric, data.volume, users_injected)
            tallies[name].add_injected(injected[eval_start:], data.events)
    n_metrics = len({d.metric for d in streams})
    return {name: tally.summary(weeks, n_metrics, len(streams)) for name, tally in tallies.items()}


def evaluate_frame_offline(
    frame: pd.DataFrame,
    config: AlertsConfig,
    warmup_days: int,
    seed: int,
    events_per_week: int = 8,
    streams_out: list[StreamData] | None = None,
) -> dict[str, Any]:
    """The harness on an already loaded frame (no ClickHouse): inject, run, summarise."""
    streams = build_streams(frame, config)
    if streams_out is not None:
        streams_out.extend(streams)
    eval_start = warmup_days * BUCKETS_PER_DAY
    weeks = (len(streams[0].clean) - eval_start) / (7 * BUCKETS_PER_DAY)
    plan_and_inject(streams, eval_start, events_per_week, seed)
    return {"detectors": score(streams, config, eval_start, weeks)}


def run_evaluation(
    client: Any,
    *,
    weeks: int = 4,
    scale: float = 1.0,
    seed: int = 42,
    warmup_days: int = 14,
    database: str | None = None,
    start: dt.date = DEFAULT_START,
    config: AlertsConfig | None = None,
    events_per_week: int = 8,
    keep: bool = False,
    streams_out: list[StreamData] | None = None,
) -> dict[str, Any]:
    """Simulate, load, inject and score; returns ``{"detectors": …, "meta": …}``.

    ``streams_out``: a list that receives the clean and injected streams (for the limit detector).

    ``database``: a scratch database name to create (``feedpulse_scratch_…``, must not exist); default a
    new one. It is dropped afterwards unless ``keep``; an existing database is never written or dropped.
    """
    from feedpulse.simulator import simulate

    config = config or default_config()
    days = warmup_days + 7 * weeks
    with scratch_database(client, database, keep=keep) as database:
        began = time.perf_counter()
        simulate(client, start=start, days=days, scale=scale, seed=seed, database=database)
        simulated = time.perf_counter()
        first = dt.datetime.combine(start, dt.time())
        frame = load_series(client, first, first + dt.timedelta(days=days), database=database, slices=EVAL_SLICES)
    loaded = time.perf_counter()
    report = evaluate_frame_offline(frame, config, warmup_days, seed, events_per_week, streams_out)
    report["meta"] = {
        "database": database if keep else None,
        "weeks": weeks, "scale": scale, "seed": seed, "warmup_days": warmup_days, "start": start.isoformat(),
        "series": int(frame.index.get_level_values("slice").nunique() * len(config.metrics)),
        "seconds": {"simulate": round(simulated - began, 1), "load": round(loaded - simulated, 1),
                    "score": round(time.perf_counter() - loaded, 1)},
    }  # fmt: skip
    return report


def targets(summary: dict[str, Any]) -> dict[str, tuple[float | None, float, bool]]:
    """Target checks for the feedpulse detector: name → (value, target, met)."""
    large = summary["recall_large_volume_by_magnitude"]
    plus30 = summary["recall_large_volume_30_plus"]
    checks = {
        "recall ≥ 30% (volume ≥ 100)": (plus30, TARGETS["recall_30_plus"], True),
        "recall 20% (volume ≥ 100)": (large["20"], TARGETS["recall_20"], True),
        "detections within 1 bucket": (summary["within_1_bucket"], TARGETS["within_1_bucket"], True),
        "false alerts / metric / week": (
            summary["false_alerts_per_metric_week"], TARGETS["false_alerts_per_metric_week"], False),
    }  # fmt: skip
    out = {}
    for name, (value, target, higher_is_better) in checks.items():
        met = value is not None and (value >= target if higher_is_better else value <= target)
        out[name] = (value, target, met)
    return out


def parse_seeds(text: str) -> list[int]:
    """``"101-110"``, ``"42,7"``, ``"42,101-103"`` → seeds in order, without repeats."""
    seeds: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        lo, dash, hi = part.partition("-")
        if not part or not lo.isdigit() or (dash and not hi.isdigit()):
            raise ValueError(f"--seeds: {part!r} is not a seed or a range like 101-110 (in {text!r})")
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first or last - first >= 1000:
            raise ValueError(f"--seeds: range {part!r} must go up and hold at most 1000 seeds")
        seeds += [s for s in range(first, last + 1) if s not in seeds]
    return seeds


# figure → True when higher is better (the worst seed is then the minimum)
HEADLINE = {
    "recall_large_volume_30_plus": True, "recall_large_volume_20": True, "recall": True, "precision": True,
    "f1": True, "within_1_bucket": True, "false_alerts_per_metric_week": False,
}  # fmt: skip


def aggregate(per_seed: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """detector → figure → {mean, worst, worst_seed} over the seeds (None values skipped)."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    detectors = next(iter(per_seed.values())).keys() if per_seed else []
    for name in detectors:
        out[name] = {}
        for figure, higher in HEADLINE.items():
            values = {}
            for seed, detectors_ in per_seed.items():
                summary = detectors_[name]
                value = summary["recall_large_volume_by_magnitude"]["20"] if figure == "recall_large_volume_20" else (
                    summary.get(figure))  # fmt: skip
                if value is not None:
                    values[seed] = float(value)
            if not values:
                out[name][figure] = {"mean": None, "worst": None, "worst_seed": None}
                continue
            worst_seed = (min if higher else max)(values, key=values.__getitem__)
            out[name][figure] = {"mean": float(np.mean(list(values.values()))), "worst": values[worst_seed],
                                 "worst_seed": int(worst_seed)}  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------- limit


@dataclass(frozen=True)
class LimitModel:
    """What the limit detector knows about one stream in the evaluated window: each bucket's true
    expectation and the noise's dispersion, measured on ``replicas`` independent noise draws of the seed's
    own population (:func:`limit_replicas`).

    ``kind`` ``count``: ``mean`` is the bucket's expected count; ``per_unit`` (a metric with
    ``per_user_of``): ``mean`` is the expected count per unit of the reference (views per feed user), and
    the expectation is that times the bucket's observed reference — the information feedpulse's own
    detector uses; ``ratio``: ``mean`` is the expected ratio (CTR). ``dispersion``: the noise variance over
    the Poisson (counts) or binomial (ratios) variance, pooled over the stream's buckets — views come in
    per-user bursts, so it is well above 1 for them."""

    kind: str
    mean: np.ndarray
    dispersion: float
    replicas: int


def fit_limit_model(values: np.ndarray, reference: np.ndarray | None, kind: str) -> LimitModel:
    """``values``/``reference``: K × T clean replicas of the stream (and of its reference series)."""
    k = values.shape[0]
    if k < 2:
        raise ValueError("the limit detector needs at least 2 noise replicas")
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "count":
            mean = np.nanmean(values, axis=0)
            spread = np.nanvar(values, axis=0, ddof=1)
            ok = mean > 0
            dispersion = float(np.nansum(spread[ok]) / np.nansum(mean[ok]))
        elif kind == "per_unit":
            assert reference is not None
            mean = np.nansum(values, axis=0) / np.nansum(reference, axis=0)
            residual = values - mean * reference
            spread = np.nansum(residual**2, axis=0) / (k - 1)
            expected = mean * np.nanmean(reference, axis=0)
            ok = expected > 0
            dispersion = float(np.nansum(spread[ok]) / np.nansum(expected[ok]))
        else:  # ratio: values are ratios, reference their denominators
            assert reference is not None
            mean = np.nansum(values * reference, axis=0) / np.nansum(reference, axis=0)
            binomial = mean * (1 - mean) / reference
            z2 = (values - mean) ** 2 / binomial
            dispersion = float(np.nanmean(z2[np.isfinite(z2)]) * k / (k - 1))
    return LimitModel(kind, mean, max(dispersion, 1.0), k)


def _tail_score(model: LimitModel, x: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """−log10 of the two-sided tail probability of each observed value under the limit model: a negative
    binomial with the bucket's expectation and the stream's dispersion for counts (Poisson when the
    dispersion is 1), a normal with the binomial variance × the dispersion for ratios. The variance also
    carries the expectation's own estimation error (× (1 + 1/K) for K replicas). Missing ⇒ ∞."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    inflation = model.dispersion * (1 + 1 / model.replicas)
    score = np.full(len(x), np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        if model.kind == "ratio":
            assert reference is not None
            p = model.mean
            sd = np.sqrt(inflation * p * (1 - p) / np.asarray(reference, dtype=float))
            ok = ~np.isnan(x) & np.isfinite(sd) & (sd > 0)
            log_tail = stats.norm.logsf(np.abs(x[ok] - p[ok]) / sd[ok])
        else:
            mu = model.mean * np.asarray(reference, dtype=float) if model.kind == "per_unit" else model.mean
            ok = ~np.isnan(x) & np.isfinite(mu) & (mu > 0)
            k, m = np.round(x[ok]), mu[ok]
            if inflation > 1:
                size, prob = m / (inflation - 1), 1 / inflation  # mean m, variance m · inflation
                low, high = stats.nbinom.logcdf(k, size, prob), stats.nbinom.logsf(k - 1, size, prob)
            else:
                low, high = stats.poisson.logcdf(k, m), stats.poisson.logsf(k - 1, m)
            log_tail = np.minimum(low, high)
    tail = np.minimum(log_tail + np.log(2), 0.0)
    score[ok] = -tail / np.log(10)
    score[~np.isnan(x) & ~ok] = 0.0  # no expectation (or zero): nothing to judge
    return score


def _limit_kind(metric: MetricConfig) -> str:
    if metric.kind == "ratio":
        return "ratio"
    return "per_unit" if metric.per_user_of else "count"


def _reference(data: StreamData, metric: MetricConfig, users: pd.Series | None) -> pd.Series | None:
    """The series a stream is judged against: its denominator (ratio) or its per-user reference."""
    if metric.kind == "ratio":
        return data.volume
    return users if metric.per_user_of else None


def limit_replicas(
    client: Any,
    *,
    seed: int,
    replicas: int,
    start: dt.date,
    days: int,
    scale: float,
    config: AlertsConfig,
) -> dict[tuple[str, str], LimitModel]:
    """The limit models of every stream of ``seed``: ``replicas`` clean runs of ``[start, start + days)``
    with the seed's population and other noise seeds (``2^32 + 64·seed + k``: never the seed itself),
    each simulated into a scratch database and loaded like the evaluated run."""
    from feedpulse.simulator import simulate

    runs: list[list[StreamData]] = []
    first = dt.datetime.combine(start, dt.time())
    with scratch_database(client, None) as database:
        for k in range(replicas):
            noise = 2**32 + 64 * seed + k
            simulate(client, start=start, days=days, scale=scale, seed=seed, database=database, noise_seed=noise)
            frame = load_series(client, first, first + dt.timedelta(days=days), database=database, slices=EVAL_SLICES)
            runs.append(build_streams(frame, config))
    models = {}
    for position, data in enumerate(runs[0]):
        metric = config.metrics[data.metric]
        kind = _limit_kind(metric)
        values = np.vstack([run[position].clean.to_numpy(dtype=float) for run in runs])
        reference = None
        if kind != "count":
            series = [_reference(run[position], metric, run[position].users) for run in runs]
            reference = np.vstack([r.to_numpy(dtype=float) for r in series if r is not None])
        models[(data.metric, data.slice)] = fit_limit_model(values, reference, kind)
    return models


def _limit_scores(
    streams: list[StreamData], models: dict[tuple[str, str], LimitModel], config: AlertsConfig, eval_start: int,
    injected: bool,
) -> list[np.ndarray]:  # fmt: skip
    """Scores of the evaluated window of every stream (clean or injected run)."""
    out = []
    for d in streams:
        model = models.get((d.metric, d.slice))
        values = d.injected if injected else d.clean
        n = len(d.clean) - eval_start
        if model is None or values is None or len(model.mean) != n:
            out.append(np.zeros(n))
            continue
        metric = config.metrics[d.metric]
        users = _injected_users(d, streams, config) if injected else d.users
        reference = _reference(d, metric, users)
        ref = None if reference is None else reference.to_numpy(dtype=float)[eval_start:]
        out.append(_tail_score(model, values.to_numpy(dtype=float)[eval_start:], ref))
    return out


def limit_detector(
    per_seed: dict[int, list[StreamData]],
    models: dict[int, dict[tuple[str, str], LimitModel]],
    config: AlertsConfig,
    eval_start: int,
    weeks: float,
    budget: float,
) -> tuple[dict[int, dict[str, Any]], float]:
    """The limit detector on every seed: it knows each bucket's expectation and the noise's dispersion
    (:class:`LimitModel`) and fires where the tail probability is below 10^−θ, θ set so that its false alerts
    per metric-week on the clean weeks, pooled over the seeds, do not exceed ``budget`` (feedpulse's own).
    Returns the summaries per seed and θ."""
    clean = {s: _limit_scores(st, models[s], config, eval_start, False) for s, st in per_seed.items()}
    n_metrics = {s: len({d.metric for d in st}) for s, st in per_seed.items()}

    def false_alerts(theta: float) -> float:
        rates = []
        for s, scores in clean.items():
            runs = sum(len(alert_runs(sc >= theta)) for sc in scores)
            rates.append(runs / (n_metrics[s] * weeks))
        return float(np.mean(rates))

    lo, hi = 0.0, 400.0
    for _ in range(40):  # the smallest θ within the budget (false alerts fall as θ grows)
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if false_alerts(mid) > budget else (lo, mid)
    theta = hi
    summaries = {}
    for s, streams in per_seed.items():
        tally = Tally()
        injected = _limit_scores(streams, models[s], config, eval_start, True)
        for d, scores_clean, scores in zip(streams, clean[s], injected, strict=True):
            tally.add_clean(scores_clean >= theta, d.metric)
            tally.add_injected(scores >= theta, d.events)
        summaries[s] = tally.summary(weeks, n_metrics[s], len(streams))
    return summaries, theta


def share_of_limit(feedpulse: dict[str, Any], limit: dict[str, Any]) -> dict[str, float | None]:
    """feedpulse's recall per magnitude band (volume ≥ 100) as a share of the limit detector's."""
    out: dict[str, float | None] = {}
    for band, ceiling in limit["recall_large_volume_by_magnitude"].items():
        own = feedpulse["recall_large_volume_by_magnitude"].get(band)
        out[band] = own / ceiling if own is not None and ceiling else None
    return out
