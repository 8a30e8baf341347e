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
   the log rate ``log(x + ½) − log(users + ½)`` and the expected count is the expected rate × the
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
from collections.abc import Iterable, Mapping
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
P = BUCKETS_PER_DAY
HALF_DAY = P // 2
LOG_OFFSET = 0.5  # log(x + 0.5) for counts: finite at zero
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
    """Indices ``t − P·d + j`` (d = 1..days, j = −h..h) for each t of ``block``; −1 where < 0."""
    lags = np.array([P * d - j for d in range(1, days + 1) for j in range(-halfwidth, halfwidth + 1)])
    idx = block[:, None] - lags[None, :]
    return np.where(idx >= 0, idx, -1)


def _take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = values[np.maximum(idx, 0)]
    return np.where(idx >= 0, out, np.nan)


def _nanmedian_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row medians ignoring NaN, and the count of valid values (NaN median where none)."""
    counts = np.sum(~np.isnan(matrix), axis=1)
    out = np.full(matrix.shape[0], np.nan)
    ok = counts > 0
    if ok.any():
        out[ok] = np.nanmedian(matrix[ok], axis=1)
    return out, counts


class _DayLevels:
    """Daily mean of unflagged values → realised weekday level and the expected weekday factor."""

    def __init__(self, n_days: int) -> None:
        self.mean = np.full(n_days, np.nan)

    def close_day(self, day: int, linear_values: np.ndarray) -> None:
        valid = linear_values[~np.isnan(linear_values)]
        if day >= 0 and valid.size >= HALF_DAY:
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
        samples = [self.realised(day - 7 * k) for k in (1, 2) if day - 7 * k >= 6]
        samples = [s for s in samples if s != 0.0]
        return float(np.median(samples)) if samples else 0.0


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
        self.x = np.asarray(values, dtype=float)
        self.n = len(self.x)
        self.cfg, self.tune = config, tuning
        self.ratio = config.kind == "ratio"
        self.volume = None if volume is None else np.asarray(volume, dtype=float)
        self.offset = first_slot
        # log of the per-user denominator (0 when none): the scan models log(x) − ref, the rate
        self.per_user = reference is not None
        if reference is None:
            self.ref = np.zeros(self.n)
        else:
            users = np.asarray(reference, dtype=float)
            self.ref = np.where(users > 0, _to_log(users, False), np.nan)
        self.logx = _to_log(self.x, self.ratio) - self.ref
        self.clean = self.logx.copy()  # NaN where missing or left out
        self.resid = np.full(self.n, np.nan)  # residual of the full prediction (spread)
        self.resid_raw = np.full(self.n, np.nan)  # residual before the AR term (estimates φ)
        self.phi = 0.0
        self.recent_z: deque[float] = deque(maxlen=config.sensitivity.window)
        self.base = np.full(self.n, np.nan)  # seasonal baseline (log), before the level ratio
        self.days = _DayLevels((self.n + first_slot) // P + 2)
        self.day_shift = np.zeros((self.n + first_slot) // P + 2)  # realised log level per day
        valid = np.flatnonzero(~np.isnan(self.x))
        self.first_valid = int(valid[0]) if valid.size else self.n
        self.level: deque[tuple[float, float]] = deque(maxlen=tuning.level_window)
        self.excluded_run = 0
        out = ScanResult(
            expected=np.full(self.n, np.nan), lower=np.full(self.n, np.nan), upper=np.full(self.n, np.nan),
            z=np.full(self.n, np.nan), status=np.full(self.n, COLD_START, dtype=np.int8), reason=[""] * self.n,
        )  # fmt: skip
        self.out = out

    def day_of(self, i: int) -> int:
        return (i + self.offset) // P

    def run(self) -> ScanResult:
        starts = [0, *[i for i in range(1, self.n) if (i + self.offset) % HALF_DAY == 0], self.n]
        for b0, b1 in itertools.pairwise(starts):
            if b1 > b0:
                self.block(b0, b1)
        return self.out

    def close_previous_day(self, b0: int) -> None:
        day = self.day_of(b0) - 1
        lo, hi = max(day * P - self.offset, 0), max(b0, 0)
        if day < 0 or hi <= lo:
            return
        linear = np.exp(self.clean[lo:hi])
        self.days.close_day(day, linear)
        self.day_shift[day] = self.days.realised(day)

    def block(self, b0: int, b1: int) -> None:
        if (b0 + self.offset) % P == 0:
            self.close_previous_day(b0)
        tune = self.tune
        idx = _lag_matrix(np.arange(b0, b1), tune.history_days, tune.slot_halfwidth)
        sample_days = np.where(idx >= 0, (idx + self.offset) // P, 0)
        samples = _take(self.clean, idx) - self.day_shift[sample_days]
        base, _ = _nanmedian_rows(samples)
        base = base + self.days.expected(self.day_of(b0))
        span = 2 * tune.slot_halfwidth + 1
        have_day = ~np.isnan(samples).reshape(len(base), tune.history_days, span).all(axis=2)
        n_days = have_day.sum(axis=1)
        resid = _take(self.resid, idx)
        centre, counts = _nanmedian_rows(resid)
        mad, _ = _nanmedian_rows(np.abs(resid - centre[:, None]))
        spread = np.where(counts >= tune.min_spread_samples, MAD_SCALE * mad, np.nan)
        self.base[b0:b1] = base
        self.phi = self.estimate_phi(b0)
        for k, t in enumerate(range(b0, b1)):
            if n_days[k] < tune.min_history_days:
                self.cold_start(t)
            else:
                self.judge(t, base[k], spread[k])

    def estimate_phi(self, b0: int) -> float:
        """Lag-1 autocorrelation of recent raw residuals (sessions spill into the next bucket)."""
        if not self.tune.autoregression or b0 < 2:
            return 0.0
        lo = max(b0 - self.tune.ar_days * P, 1)
        cur, prev = self.resid_raw[lo:b0], self.resid_raw[lo - 1 : b0 - 1]
        ok = ~np.isnan(cur) & ~np.isnan(prev)
        if ok.sum() < HALF_DAY:
            return 0.0
        cur, prev = cur[ok] - cur[ok].mean(), prev[ok] - prev[ok].mean()
        denom = float(np.sum(prev * prev))
        return min(max(float(np.sum(cur * prev)) / denom, 0.0), self.tune.ar_max) if denom > 0 else 0.0

    # ------------------------------------------------------------------ one bucket

    def level_ratio(self) -> float:
        if not self.level:
            return 1.0
        actual = sum(a for a, _ in self.level)
        base = sum(b for _, b in self.level)
        if base <= 0:
            return 1.0
        return min(max(actual / base, self.tune.level_min), self.tune.level_max)

    def noise_floor(self, expected: float, t: int) -> float:
        if self.ratio:
            vol = self.volume[t] if self.volume is not None else np.nan
            if not (vol > 0) or not (0 < expected < 1):
                return 0.0
            return math.sqrt((1 - expected) / (expected * vol))
        if self.per_user and self.ref[t] == self.ref[t]:
            # noise given the users: Poisson excess over one per user, or binomial below one per user
            users = max(math.exp(self.ref[t]) - LOG_OFFSET, 1.0)
            variance = expected - users if expected > users else expected * (1 - expected / users)
            return math.sqrt(max(variance, 1.0)) / max(expected, 1.0)
        return 1.0 / math.sqrt(max(expected, 1.0))

    def volume_of(self, t: int, expected: float) -> float:
        if not self.ratio:
            return expected
        if self.volume is None:
            return math.inf
        return float(self.volume[t]) if not np.isnan(self.volume[t]) else 0.0

    def judge(self, t: int, base_log: float, mad: float) -> None:
        out, cfg = self.out, self.cfg
        e_raw = base_log + math.log(self.level_ratio())
        previous = self.resid_raw[t - 1] if t > 0 else np.nan
        ar_applied = self.phi > 0 and not np.isnan(previous)
        e_log = e_raw + self.phi * previous if ar_applied else e_raw
        shrink = math.sqrt(1 - self.phi**2)
        expected = _from_log(e_log + self.ref[t], self.ratio)
        floor = self.tune.spread_floor_factor * self.noise_floor(expected, t) * shrink
        sigma = max(mad, floor) if not np.isnan(mad) else max(1.5 * floor, 0.05)
        sigma = max(sigma if ar_applied else sigma / shrink, 1e-6)
        out.expected[t] = expected
        self.set_band(t, e_log + self.ref[t], sigma)
        x = self.x[t]
        volume = self.volume_of(t, expected)
        if np.isnan(x) or (not self.ratio and x == 0):
            self.recent_z.clear()
            self.exclude(t)
            big = volume >= cfg.min_expected or (self.ratio and np.isnan(x))
            out.status[t] = NO_DATA if big else LOW_VOLUME
            out.reason[t] = "missing bucket" if np.isnan(x) else "zero while a large value is expected"
            if not big:
                out.reason[t] = f"no data, expected volume {volume:.0f} < {cfg.min_expected:g}"
            return
        if np.isnan(self.logx[t]):  # value present but the users denominator is missing or zero
            out.status[t], out.reason[t] = OK, "users missing: per-user rate undefined"
            self.exclude(t)
            return
        z = (self.logx[t] - e_log) / sigma
        out.z[t] = z
        self.recent_z.append(z / cfg.sensitivity.lower_tail if z < 0 else z)
        deviation = x / expected - 1 if expected > 0 else math.inf
        fire, reason = self.rule(self.recent_z[-1], deviation, volume)
        out.status[t] = FIRING if fire else (LOW_VOLUME if volume < cfg.min_expected else OK)
        out.reason[t] = reason
        if abs(z) >= self.tune.exclude_z and self.excluded_run < self.tune.max_excluded_run:
            self.exclude(t)
        else:
            self.excluded_run = 0
            self.resid[t] = self.logx[t] - e_log
            self.resid_raw[t] = self.logx[t] - e_raw
            if not np.isnan(self.base[t]):
                self.level.append((math.exp(self.logx[t]), math.exp(self.base[t])))

    def rule(self, z: float, deviation: float, volume: float) -> tuple[bool, str]:
        """Fire or not for the tail-adjusted ``z`` (downward z already divided by ``lower_tail``)."""
        cfg, sens = self.cfg, self.cfg.sensitivity
        if volume < cfg.min_expected:
            return False, f"expected volume {volume:.0f} < {cfg.min_expected:g}"
        if (cfg.direction == "up" and z < 0) or (cfg.direction == "down" and z > 0):
            return False, f"direction {cfg.direction}"
        if abs(deviation) < cfg.min_relative_change:
            return False, f"|deviation| {abs(deviation):.1%} < {cfg.min_relative_change:.0%}"
        if abs(z) >= sens.z_once:
            return True, f"|z| = {abs(z):.1f} ≥ {sens.z_once:g}"
        recent = list(self.recent_z)
        if len(recent) >= 2 and abs(recent[-2]) >= sens.z_twice and abs(z) >= sens.z_twice and z * recent[-2] > 0:
            return True, f"|z| ≥ {sens.z_twice:g} twice in a row"
        for k in range(2, len(recent) + 1):
            window = recent[-k:]
            if all(v * z > 0 for v in window) and abs(sum(window)) / math.sqrt(k) >= sens.z_sum:
                return True, f"|Σz|/√{k} = {abs(sum(window)) / math.sqrt(k):.1f} ≥ {sens.z_sum:g} over {k} buckets"
        return False, f"|z| = {abs(z):.1f}"

    def set_band(self, t: int, e_log: float, sigma: float) -> None:
        sens, rel = self.cfg.sensitivity, self.cfg.min_relative_change
        expected = self.out.expected[t]
        lo = min(_from_log(e_log - sens.z_once * sens.lower_tail * sigma, self.ratio), expected * (1 - rel))
        hi = max(_from_log(e_log + sens.z_once * sigma, self.ratio), expected * (1 + rel))
        self.out.lower[t], self.out.upper[t] = max(lo, 0.0), hi

    def exclude(self, t: int) -> None:
        self.clean[t] = np.nan
        self.excluded_run += 1

    def cold_start(self, t: int) -> None:
        """Safe rules only: no-data, and a large change against yesterday's same slot (±1)."""
        out, cfg = self.out, self.cfg
        lo, hi = t - P - 1, t - P + 2
        ref = self.x[max(lo, 0) : max(hi, 0)]
        ref = ref[~np.isnan(ref)]
        x = self.x[t]
        if ref.size == 0:
            out.reason[t] = "cold start: no history"
            return
        y = float(np.median(ref))
        out.expected[t] = y
        rel = self.tune.cold_start_change
        out.lower[t], out.upper[t] = y * (1 - rel), y * (1 + rel)
        volume = self.volume_of(t, y)
        if np.isnan(x) or (not self.ratio and x == 0):
            if volume >= cfg.min_expected:
                out.status[t], out.reason[t] = NO_DATA, "cold start: missing/zero while yesterday was large"
            return
        deviation = x / y - 1 if y > 0 else math.inf
        allowed = cfg.direction == "both" or (cfg.direction == "up") == (deviation > 0)
        if volume >= cfg.min_expected and allowed and abs(deviation) > rel:
            out.status[t], out.reason[t] = FIRING, f"cold start: {deviation:+.0%} vs yesterday"
        else:
            out.reason[t] = "cold start: fewer than min_history_days of history"


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
    pick = [rate if r else plain for r in use_rate]
    return ScanResult(
        expected=np.where(use_rate, rate.expected, plain.expected),
        lower=np.where(use_rate, rate.lower, plain.lower),
        upper=np.where(use_rate, rate.upper, plain.upper),
        z=np.where(use_rate, rate.z, plain.z),
        status=np.where(use_rate, rate.status, plain.status).astype(np.int8),
        reason=[src.reason[i] + (f" (per {reference})" if src is rate else "") for i, src in enumerate(pick)],
    )


# --------------------------------------------------------------------------------------------- API


def _regular(series: pd.Series, end: pd.Timestamp | None = None, start: pd.Timestamp | None = None) -> pd.Series:
    """Reindex to a gap-free 15-minute grid (NaN where missing)."""
    series = series.sort_index()
    series = series[~series.index.duplicated(keep="last")]
    lo = start if start is not None else series.index.min()
    hi = end if end is not None else series.index.max()
    grid = pd.date_range(pd.Timestamp(lo).floor("15min"), pd.Timestamp(hi).floor("15min"), freq="15min")
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
        vol = None if volume is None else _regular(volume, end=bucket, start=grid.index[0]).to_numpy()
        ref = None if users is None else _regular(users, end=bucket, start=grid.index[0]).to_numpy()
        result = scan(grid.to_numpy(), self.config, self.tuning, vol, _slot(grid.index[0]), ref)
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
        vol = None if volume is None else _regular(volume, start=grid.index[0], end=grid.index[-1]).to_numpy()
        ref = None if users is None else _regular(users, start=grid.index[0], end=grid.index[-1]).to_numpy()
        return scan(grid.to_numpy(), self.config, self.tuning, vol, _slot(grid.index[0]), ref)


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
