"""Seasonal robust anomaly detector for 15-minute metric series (pure numpy; no ClickHouse).

For a bucket ``t`` (log scale throughout):

1. **Seasonal baseline**: median of the same slot ±``slot_halfwidth`` buckets over the last
   ``history_days`` days, each sample divided by its day's realised weekday level (day mean / mean
   of its 7-day week) and the result multiplied by the expected weekday factor of ``t``'s day
   (median of the same weekday 1 and 2 weeks back).
2. **Recent level**: ratio of sums actual/baseline over the last ``level_window`` *unflagged*
   buckets, clipped — follows day-to-day level noise without absorbing an anomaly.
3. **Spread**: robust (1.4826·MAD) spread of past residuals at the same slots, floored by the
   Poisson noise of a count (``1/√expected``) or the binomial noise of a ratio
   (``√((1−p)/(p·volume))``).
4. **Rule**: fire when ``|z| ≥ z_once``, or ``|z| ≥ z_twice`` in two consecutive buckets (same
   sign), AND ``|value/expected − 1| ≥ min_relative_change`` AND expected volume ≥ ``min_expected``,
   in the configured direction; a downward z is first divided by ``lower_tail`` (≥ 1: the log of a
   count has a longer lower tail, so the same |z| below is less unusual than above). Buckets with
   ``|z| ≥ exclude_z`` are left out of later baselines (until ``max_excluded_run`` in a row: then the
   new level is accepted).
5. A missing bucket (NaN) or a zero count while ``expected ≥ min_expected`` ⇒ ``no_data``.
6. Fewer than ``min_history_days`` of history ⇒ ``cold_start``: only the safe rule
   (``|value/yesterday's slot − 1| > cold_start_change``) and no-data.
7. **Per-user metrics** (``per_user_of``, e.g. views per feed user, likes per view): steps 1–4 run on
   the log rate ``log(value + ½) − log(users + ½)`` and the expected count is the expected rate × the
   bucket's actual users (any reference count), so a change of the metric that the reference does not
   explain gets a sharper z (the reference's own noise drops out; the Poisson floor becomes the noise
   given the reference: the excess over one per user, or binomial below one per user — likes per view
   scatter like CTR, ~1.4× binomial, where likes per feed user scatter ~2× Poisson). Where the users
   bucket is itself anomalous (|z| of the users' own scan ≥ ``per_user_fallback_z``, missing, zero or
   in cold start) the plain scan of the metric decides.

:func:`scan` runs the whole thing over an array causally (each bucket sees only the past): the
slot medians and spreads are vectorised per half-day block (their lags are ≥ 95 buckets), the
level ratio and the rule run in a cheap sequential loop. ``Detector.evaluate`` scans a bounded
window ending at the bucket (cost independent of history length); ``run_stream`` scans a whole
series for the evaluation harness.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from feedpulse.alerts.config import AlertsConfig, DetectorTuning, MetricConfig
from feedpulse.alerts.series import BUCKETS_PER_DAY, stream

Status = Literal["ok", "firing", "no_data", "cold_start", "low_volume"]
STATUSES: tuple[Status, ...] = ("ok", "firing", "no_data", "cold_start", "low_volume")
OK, FIRING, NO_DATA, COLD_START, LOW_VOLUME = range(5)
ALERTING = (FIRING, NO_DATA)
BUCKETS_PER_HALF_DAY = BUCKETS_PER_DAY // 2
LOG_OFFSET = 0.5  # log(value + 0.5) for counts: finite at zero
RATIO_EPS = 1e-4
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Evaluation:
    """The verdict for one metric of one slice in one bucket."""

    bucket: pd.Timestamp
    metric: str
    slice: str
    value: float
    expected: float
    lower: float
    upper: float
    z: float
    deviation: float
    status: Status
    reason: str

    @property
    def alerting(self) -> bool:
        return self.status in ("firing", "no_data")


@dataclass
class ScanResult:
    """Per-bucket arrays of :func:`scan` (same length as the input)."""

    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    z: np.ndarray
    status: np.ndarray  # codes OK..LOW_VOLUME
    reason: list[str]

    @property
    def fired(self) -> np.ndarray:
        return np.isin(self.status, ALERTING)


# --------------------------------------------------------------------------------------------- helpers


def _to_log(values: np.ndarray, ratio: bool) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.maximum(values, RATIO_EPS)) if ratio else np.log(values + LOG_OFFSET)


def _from_log(values: float, ratio: bool) -> float:
    return math.exp(values) if ratio else max(math.exp(values) - LOG_OFFSET, 0.0)


def _lag_matrix(block: np.ndarray, days: int, halfwidth: int) -> np.ndarray:
    """Indices ``t − BUCKETS_PER_DAY·day + shift`` for each t of ``block``; −1 where < 0.

    ``day`` = 1..days, ``shift`` = −halfwidth..halfwidth: the same slot ± halfwidth on each past day."""
    lags = np.array(
        [BUCKETS_PER_DAY * day - shift for day in range(1, days + 1) for shift in range(-halfwidth, halfwidth + 1)]
    )
    indices = block[:, None] - lags[None, :]
    return np.where(indices >= 0, indices, -1)


def _take(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``values`` at ``indices``, NaN where an index is −1 (before the series)."""
    taken = values[np.maximum(indices, 0)]
    return np.where(indices >= 0, taken, np.nan)


def _nanmedian_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row medians ignoring NaN, and the count of valid values (NaN median where none).

    Sorted rows put NaN last, so a row's median is the mean of its two middle valid values: the same
    number as ``np.nanmedian(axis=1)``, whose small-array path goes through masked arrays and was
    a third of the sensor's evaluation time."""
    counts = np.sum(~np.isnan(matrix), axis=1)
    if matrix.shape[1] == 0:
        return np.full(matrix.shape[0], np.nan), counts
    ordered = np.sort(matrix, axis=1)
    rows = np.arange(matrix.shape[0])
    low, high = np.maximum(counts - 1, 0) // 2, np.minimum(counts // 2, matrix.shape[1] - 1)
    out = (ordered[rows, low] + ordered[rows, high]) / 2
    out[counts == 0] = np.nan
    return out, counts


def _median_of_few(values: Sequence[float]) -> float:
    """The median of a handful of numbers without NaN (yesterday's slot ±1, two weekday levels): the same number
    as ``np.median`` — the middle one, or the mean of the two middle ones — which costs ≈ 30 µs a call and was a
    sixth of the sensor's evaluation time (every cold-start bucket of the window is judged again each tick)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class _DayLevels:
    """Daily mean of unflagged values → realised weekday level and the expected weekday factor."""

    def __init__(self, n_days: int) -> None:
        self.mean = np.full(n_days, np.nan)

    def close_day(self, day: int, linear_values: np.ndarray) -> None:
        valid = linear_values[~np.isnan(linear_values)]
        if day >= 0 and valid.size >= BUCKETS_PER_HALF_DAY:
            self.mean[day] = float(valid.mean())

    def realised(self, day: int) -> float:
        """log(day mean / mean of the 7 days ending that day); 0 when unknown."""
        if day < 6:
            return 0.0
        week = self.mean[day - 6 : day + 1]
        if np.isnan(week).any() or week.mean() <= 0 or self.mean[day] <= 0:
            return 0.0
        return float(math.log(self.mean[day] / week.mean()))

    def expected(self, day: int) -> float:
        """log weekday factor of ``day``: median realised level of the same weekday 1–2 weeks back."""
        samples = [self.realised(day - 7 * weeks) for weeks in (1, 2) if day - 7 * weeks >= 6]
        samples = [sample for sample in samples if sample != 0.0]
        return _median_of_few(samples) if samples else 0.0


# --------------------------------------------------------------------------------------------- scan


class _Scanner:
    """State of one causal pass over a series (see :func:`scan`)."""

    def __init__(
        self,
        values: np.ndarray,
        config: MetricConfig,
        tuning: DetectorTuning,
        volume: np.ndarray | None,
        first_slot: int,
        reference: np.ndarray | None = None,
    ) -> None:
        self.values = np.asarray(values, dtype=float)
        self.length = len(self.values)
        self.config, self.tuning = config, tuning
        self.ratio = config.kind == "ratio"
        self.volume = None if volume is None else np.asarray(volume, dtype=float)
        self.first_slot = first_slot
        # log of the per-user denominator (0 when none): the scan models log(value) − log_reference, the rate
        self.per_user = reference is not None
        if reference is None:
            self.log_reference = np.zeros(self.length)
        else:
            users = np.asarray(reference, dtype=float)
            self.log_reference = np.where(users > 0, _to_log(users, False), np.nan)
        self.log_values = _to_log(self.values, self.ratio) - self.log_reference
        self.clean = self.log_values.copy()  # NaN where missing or left out
        self.residual = np.full(self.length, np.nan)  # residual of the full prediction (spread)
        self.raw_residual = np.full(self.length, np.nan)  # residual before the AR term (estimates φ)
        self.autocorrelation = 0.0  # φ of the tuning's autoregression: lag-1, of the raw residuals
        self.recent_z: deque[float] = deque(maxlen=config.sensitivity.window)
        self.baseline = np.full(self.length, np.nan)  # seasonal baseline (log), before the level ratio
        n_days = (self.length + first_slot) // BUCKETS_PER_DAY + 2
        self.day_levels = _DayLevels(n_days)
        self.day_shift = np.zeros(n_days)  # realised log level per day
        # (actual, baseline) of the last unflagged buckets: the level ratio
        self.recent_levels: deque[tuple[float, float]] = deque(maxlen=tuning.level_window)
        self.excluded_run = 0
        length = self.length
        self.result = ScanResult(
            expected=np.full(length, np.nan), lower=np.full(length, np.nan), upper=np.full(length, np.nan),
            z=np.full(length, np.nan), status=np.full(length, COLD_START, dtype=np.int8), reason=[""] * length,
        )  # fmt: skip

    def day_of(self, t: int) -> int:
        return (t + self.first_slot) // BUCKETS_PER_DAY

    def run(self) -> ScanResult:
        half_days = [t for t in range(1, self.length) if (t + self.first_slot) % BUCKETS_PER_HALF_DAY == 0]
        for start, end in itertools.pairwise([0, *half_days, self.length]):
            if end > start:
                self.block(start, end)
        return self.result

    def close_previous_day(self, block_start: int) -> None:
        day = self.day_of(block_start) - 1
        start, end = max(day * BUCKETS_PER_DAY - self.first_slot, 0), max(block_start, 0)
        if day < 0 or end <= start:
            return
        linear = np.exp(self.clean[start:end])
        self.day_levels.close_day(day, linear)
        self.day_shift[day] = self.day_levels.realised(day)

    def block(self, start: int, end: int) -> None:
        """Buckets ``[start, end)`` (at most half a day): the lags of their baselines are all in the past."""
        if (start + self.first_slot) % BUCKETS_PER_DAY == 0:
            self.close_previous_day(start)
        tuning = self.tuning
        lagged = _lag_matrix(np.arange(start, end), tuning.history_days, tuning.slot_halfwidth)
        sample_days = np.where(lagged >= 0, (lagged + self.first_slot) // BUCKETS_PER_DAY, 0)
        samples = _take(self.clean, lagged) - self.day_shift[sample_days]
        baseline, _ = _nanmedian_rows(samples)
        baseline = baseline + self.day_levels.expected(self.day_of(start))
        slots_per_day = 2 * tuning.slot_halfwidth + 1
        has_day = ~np.isnan(samples).reshape(len(baseline), tuning.history_days, slots_per_day).all(axis=2)
        days_with_samples = has_day.sum(axis=1)
        residuals = _take(self.residual, lagged)
        centre, counts = _nanmedian_rows(residuals)
        mad, _ = _nanmedian_rows(np.abs(residuals - centre[:, None]))
        spread = np.where(counts >= tuning.min_spread_samples, MAD_SCALE * mad, np.nan)
        self.baseline[start:end] = baseline
        self.autocorrelation = self.estimate_autocorrelation(start)
        for position, t in enumerate(range(start, end)):
            if days_with_samples[position] < tuning.min_history_days:
                self.cold_start(t)
            else:
                self.judge(t, baseline[position], spread[position])

    def estimate_autocorrelation(self, block_start: int) -> float:
        """Lag-1 autocorrelation of recent raw residuals (sessions spill into the next bucket)."""
        if not self.tuning.autoregression or block_start < 2:
            return 0.0
        start = max(block_start - self.tuning.ar_days * BUCKETS_PER_DAY, 1)
        current, previous = self.raw_residual[start:block_start], self.raw_residual[start - 1 : block_start - 1]
        valid = ~np.isnan(current) & ~np.isnan(previous)
        if valid.sum() < BUCKETS_PER_HALF_DAY:
            return 0.0
        current, previous = current[valid] - current[valid].mean(), previous[valid] - previous[valid].mean()
        denominator = float(np.sum(previous * previous))
        if denominator <= 0:
            return 0.0
        return min(max(float(np.sum(current * previous)) / denominator, 0.0), self.tuning.ar_max)

    # ------------------------------------------------------------------ one bucket

    def level_ratio(self) -> float:
        if not self.recent_levels:
            return 1.0
        actual = sum(value for value, _ in self.recent_levels)
        baseline = sum(base for _, base in self.recent_levels)
        if baseline <= 0:
            return 1.0
        return min(max(actual / baseline, self.tuning.level_min), self.tuning.level_max)

    def noise_floor(self, expected: float, t: int) -> float:
        if self.ratio:
            volume = self.volume[t] if self.volume is not None else np.nan
            if not (volume > 0) or not (0 < expected < 1):
                return 0.0
            return math.sqrt((1 - expected) / (expected * volume))
        if self.per_user and self.log_reference[t] == self.log_reference[t]:
            # noise given the users: Poisson excess over one per user, or binomial below one per user
            users = max(math.exp(self.log_reference[t]) - LOG_OFFSET, 1.0)
            variance = expected - users if expected > users else expected * (1 - expected / users)
            return math.sqrt(max(variance, 1.0)) / max(expected, 1.0)
        return 1.0 / math.sqrt(max(expected, 1.0))

    def volume_of(self, t: int, expected: float) -> float:
        if not self.ratio:
            return expected
        if self.volume is None:
            return math.inf
        return float(self.volume[t]) if not np.isnan(self.volume[t]) else 0.0

    def judge(self, t: int, baseline_log: float, spread: float) -> None:
        result, config = self.result, self.config
        expected_log_before_ar = baseline_log + math.log(self.level_ratio())
        previous = self.raw_residual[t - 1] if t > 0 else np.nan
        ar_applied = self.autocorrelation > 0 and not np.isnan(previous)
        expected_log = (
            expected_log_before_ar + self.autocorrelation * previous if ar_applied else expected_log_before_ar
        )
        shrink = math.sqrt(1 - self.autocorrelation**2)
        expected = _from_log(expected_log + self.log_reference[t], self.ratio)
        floor = self.tuning.spread_floor_factor * self.noise_floor(expected, t) * shrink
        sigma = max(spread, floor) if not np.isnan(spread) else max(1.5 * floor, 0.05)
        sigma = max(sigma if ar_applied else sigma / shrink, 1e-6)
        result.expected[t] = expected
        self.set_band(t, expected_log + self.log_reference[t], sigma)
        value = self.values[t]
        volume = self.volume_of(t, expected)
        if np.isnan(value) or (not self.ratio and value == 0):
            self.recent_z.clear()
            self.exclude(t)
            large = volume >= config.min_expected or (self.ratio and np.isnan(value))
            result.status[t] = NO_DATA if large else LOW_VOLUME
            result.reason[t] = "missing bucket" if np.isnan(value) else "zero while a large value is expected"
            if not large:
                result.reason[t] = f"no data, expected volume {volume:.0f} < {config.min_expected:g}"
            return
        if np.isnan(self.log_values[t]):  # value present but the users denominator is missing or zero
            result.status[t], result.reason[t] = OK, "users missing: per-user rate undefined"
            self.exclude(t)
            return
        z = (self.log_values[t] - expected_log) / sigma
        result.z[t] = z
        self.recent_z.append(z / config.sensitivity.lower_tail if z < 0 else z)
        deviation = value / expected - 1 if expected > 0 else math.inf
        fire, reason = self.rule(self.recent_z[-1], deviation, volume)
        result.status[t] = FIRING if fire else (LOW_VOLUME if volume < config.min_expected else OK)
        result.reason[t] = reason
        if abs(z) >= self.tuning.exclude_z and self.excluded_run < self.tuning.max_excluded_run:
            self.exclude(t)
        else:
            self.excluded_run = 0
            self.residual[t] = self.log_values[t] - expected_log
            self.raw_residual[t] = self.log_values[t] - expected_log_before_ar
            if not np.isnan(self.baseline[t]):
                self.recent_levels.append((math.exp(self.log_values[t]), math.exp(self.baseline[t])))

    def rule(self, z: float, deviation: float, volume: float) -> tuple[bool, str]:
        """Fire or not for the tail-adjusted ``z`` (downward z already divided by ``lower_tail``)."""
        config, sensitivity = self.config, self.config.sensitivity
        if volume < config.min_expected:
            return False, f"expected volume {volume:.0f} < {config.min_expected:g}"
        if (config.direction == "up" and z < 0) or (config.direction == "down" and z > 0):
            return False, f"direction {config.direction}"
        if abs(deviation) < config.min_relative_change:
            return False, f"|deviation| {abs(deviation):.1%} < {config.min_relative_change:.0%}"
        if abs(z) >= sensitivity.z_once:
            return True, f"|z| = {abs(z):.1f} ≥ {sensitivity.z_once:g}"
        recent = list(self.recent_z)
        z_twice = sensitivity.z_twice
        if len(recent) >= 2 and abs(recent[-2]) >= z_twice and abs(z) >= z_twice and z * recent[-2] > 0:
            return True, f"|z| ≥ {z_twice:g} twice in a row"
        for k in range(2, len(recent) + 1):
            window = recent[-k:]
            combined = abs(sum(window)) / math.sqrt(k)
            if all(window_z * z > 0 for window_z in window) and combined >= sensitivity.z_sum:
                return True, f"|Σz|/√{k} = {combined:.1f} ≥ {sensitivity.z_sum:g} over {k} buckets"
        return False, f"|z| = {abs(z):.1f}"

    def set_band(self, t: int, expected_log: float, sigma: float) -> None:
        sensitivity, min_change = self.config.sensitivity, self.config.min_relative_change
        expected = self.result.expected[t]
        lower_z = sensitivity.z_once * sensitivity.lower_tail
        lower = min(_from_log(expected_log - lower_z * sigma, self.ratio), expected * (1 - min_change))
        upper = max(_from_log(expected_log + sensitivity.z_once * sigma, self.ratio), expected * (1 + min_change))
        self.result.lower[t], self.result.upper[t] = max(lower, 0.0), upper

    def exclude(self, t: int) -> None:
        self.clean[t] = np.nan
        self.excluded_run += 1

    def cold_start(self, t: int) -> None:
        """Safe rules only: no-data, and a large change against yesterday's same slot (±1)."""
        result, config = self.result, self.config
        start, end = t - BUCKETS_PER_DAY - 1, t - BUCKETS_PER_DAY + 2
        yesterday = self.values[max(start, 0) : max(end, 0)]
        yesterday = yesterday[~np.isnan(yesterday)]
        value = self.values[t]
        if yesterday.size == 0:
            result.reason[t] = "cold start: no history"
            return
        expected = _median_of_few(yesterday.tolist())
        result.expected[t] = expected
        change = self.tuning.cold_start_change
        result.lower[t], result.upper[t] = expected * (1 - change), expected * (1 + change)
        volume = self.volume_of(t, expected)
        if np.isnan(value) or (not self.ratio and value == 0):
            if volume >= config.min_expected:
                result.status[t], result.reason[t] = NO_DATA, "cold start: missing/zero while yesterday was large"
            return
        deviation = value / expected - 1 if expected > 0 else math.inf
        allowed = config.direction == "both" or (config.direction == "up") == (deviation > 0)
        if volume >= config.min_expected and allowed and abs(deviation) > change:
            result.status[t], result.reason[t] = FIRING, f"cold start: {deviation:+.0%} vs yesterday"
        else:
            result.reason[t] = "cold start: fewer than min_history_days of history"


def scan(
    values: np.ndarray,
    config: MetricConfig,
    tuning: DetectorTuning | None = None,
    volume: np.ndarray | None = None,
    first_slot: int = 0,
    users: np.ndarray | None = None,
) -> ScanResult:
    """Run the detector causally over a regular 15-minute array (``first_slot`` = slot of element 0).

    With ``users`` (aligned with ``values``) and ``config.per_user_of`` set, a bucket is judged
    against expected rate × actual users unless the users bucket is itself anomalous (step 7).
    """
    tuning = tuning or DetectorTuning()
    plain = _Scanner(values, config, tuning, volume, first_slot).run()
    if users is None or config.per_user_of is None or config.kind != "count":
        return plain
    users = np.asarray(users, dtype=float)
    own = _Scanner(users, config, tuning, None, first_slot).run()
    rate = _Scanner(values, config, tuning, volume, first_slot, reference=users).run()
    use_rate = (
        (np.abs(np.nan_to_num(own.z, nan=np.inf)) < tuning.per_user_fallback_z)
        & (own.status != COLD_START) & (users > 0) & (rate.status != COLD_START)
    )  # fmt: skip
    return _merge(plain, rate, use_rate, config.per_user_of)


def _merge(plain: ScanResult, rate: ScanResult, use_rate: np.ndarray, reference: str) -> ScanResult:
    """Per bucket, the per-reference scan where ``use_rate`` else the plain one."""
    picked = [rate if rate_here else plain for rate_here in use_rate]
    return ScanResult(
        expected=np.where(use_rate, rate.expected, plain.expected),
        lower=np.where(use_rate, rate.lower, plain.lower),
        upper=np.where(use_rate, rate.upper, plain.upper),
        z=np.where(use_rate, rate.z, plain.z),
        status=np.where(use_rate, rate.status, plain.status).astype(np.int8),
        reason=[
            chosen.reason[t] + (f" (per {reference})" if chosen is rate else "") for t, chosen in enumerate(picked)
        ],
    )


# --------------------------------------------------------------------------------------------- API


def _regular(series: pd.Series, end: pd.Timestamp | None = None, start: pd.Timestamp | None = None) -> pd.Series:
    """Reindex to a gap-free 15-minute grid (NaN where missing)."""
    series = series.sort_index()
    series = series[~series.index.duplicated(keep="last")]
    first = start if start is not None else series.index.min()
    last = end if end is not None else series.index.max()
    grid = pd.date_range(pd.Timestamp(first).floor("15min"), pd.Timestamp(last).floor("15min"), freq="15min")
    return series.reindex(grid).astype(float)


def _slot(ts: pd.Timestamp) -> int:
    return int((ts - ts.normalize()) / pd.Timedelta(minutes=15))


class Detector:
    """The feedpulse detector for one metric (any slice)."""

    def __init__(self, config: MetricConfig, tuning: DetectorTuning | None = None) -> None:
        self.config = config
        self.tuning = tuning or DetectorTuning()

    @property
    def window_days(self) -> int:
        """Days of history one evaluation reads (baseline + weekday factors)."""
        return self.tuning.history_days + 8

    def evaluate(
        self,
        history: pd.Series,
        bucket: pd.Timestamp,
        volume: pd.Series | None = None,
        slice_label: str = "total",
        users: pd.Series | None = None,
    ) -> Evaluation:
        """Judge ``bucket`` from ``history`` (values up to and including it; later ones are ignored).

        ``users``: the ``per_user_of`` series of the same slice (used only when the config names one).
        """
        bucket = pd.Timestamp(bucket)
        start = bucket - pd.Timedelta(days=self.window_days)
        grid = _regular(history[(history.index > start) & (history.index <= bucket)], end=bucket,
                        start=start + pd.Timedelta(minutes=15))  # fmt: skip
        volume_grid = None if volume is None else _regular(volume, end=bucket, start=grid.index[0]).to_numpy()
        users_grid = None if users is None else _regular(users, end=bucket, start=grid.index[0]).to_numpy()
        result = scan(grid.to_numpy(), self.config, self.tuning, volume_grid, _slot(grid.index[0]), users_grid)
        return self._evaluation(result, -1, bucket, float(grid.iloc[-1]), slice_label)

    def _evaluation(
        self, result: ScanResult, i: int, bucket: pd.Timestamp, value: float, slice_label: str
    ) -> Evaluation:
        expected = float(result.expected[i])
        deviation = value / expected - 1 if expected > 0 and not np.isnan(value) else float("nan")
        return Evaluation(
            bucket=bucket, metric=self.config.name, slice=slice_label, value=value, expected=expected,
            lower=float(result.lower[i]), upper=float(result.upper[i]), z=float(result.z[i]),
            deviation=deviation, status=STATUSES[int(result.status[i])], reason=result.reason[i],
        )  # fmt: skip

    def run(self, series: pd.Series, volume: pd.Series | None = None, users: pd.Series | None = None) -> ScanResult:
        """The full causal scan of a series (reindexed to a regular grid); ``users`` as in :meth:`evaluate`."""
        grid = _regular(series)
        first, last = grid.index[0], grid.index[-1]
        volume_grid = None if volume is None else _regular(volume, start=first, end=last).to_numpy()
        users_grid = None if users is None else _regular(users, start=first, end=last).to_numpy()
        return scan(grid.to_numpy(), self.config, self.tuning, volume_grid, _slot(first), users_grid)


def run_stream(
    series: pd.Series,
    config: MetricConfig,
    tuning: DetectorTuning | None = None,
    volume: pd.Series | None = None,
    users: pd.Series | None = None,
) -> pd.Series:
    """Fired flag (firing or no-data) per bucket, causal; the harness's entry point."""
    grid = _regular(series)
    result = Detector(config, tuning).run(grid, volume, users)
    return pd.Series(result.fired, index=grid.index, name=series.name)


def evaluate_frame(
    frame: pd.DataFrame,
    configs: AlertsConfig | Mapping[str, MetricConfig],
    bucket: pd.Timestamp,
    slices: Iterable[str] | None = None,
) -> list[Evaluation]:
    """All configured metrics × slices of a ``load_series`` frame for one bucket."""
    tuning = configs.detector if isinstance(configs, AlertsConfig) else None
    metrics = configs.metrics if isinstance(configs, AlertsConfig) else dict(configs)
    labels = list(slices) if slices is not None else list(dict.fromkeys(frame.index.get_level_values("slice")))
    out = []
    for name, metric in metrics.items():
        detector = Detector(metric, tuning)
        for label in labels:
            history = stream(frame, name, label)
            volume = stream(frame, metric.volume_metric, label) if metric.volume_metric else None
            per_user = metric.per_user_of if metric.per_user_of in frame.columns else None
            users = stream(frame, per_user, label) if per_user else None
            out.append(detector.evaluate(history, pd.Timestamp(bucket), volume=volume, slice_label=label, users=users))
    return out
