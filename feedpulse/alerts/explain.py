"""Root cause of a metric's deviation: which segments explain it (pure pandas/numpy; no ClickHouse, no Dagster).

Input: two frames of *cells* — one row per combination of user attributes (``os``, ``gender``, ``age``
bucket, ``source``, ``country``, ``city``, ``exp_group``; strings) with the counts of the metric's
components (``views``, ``likes``, ``feed_users`` …): the bucket being judged (``current``) and the
baseline (the same slots of earlier days). Every user has one value of each attribute, so the cells
partition the users and any segment's count is the sum of its cells (user counts too, when a cell
counts distinct (user, bucket) pairs).

**Counts** (Adtributor / ThirdEye-style dimension analysis). The expected total ``E`` is the
detector's expectation for the slice (or the baseline total); each segment's expected value is
``E × its share of the baseline``. For every segment of one dimension (``os=Android``) and, where
volume allows, of a pair of dimensions (``os=Android · city=Moscow``):

- ``share``  = (observed − expected) / (O − E): its part of the total deviation (1 = all of it);
- ``change`` = observed / expected − 1: its own relative change;
- ``score``  = z² / |O − E| for segments moving with the total, else 0 — significance, not size
  (Adtributor's surprise, weighed by the segment's own noise). z = (o − ŝ·O) / √(φ·e): the segment's
  departure from its baseline share ŝ of the *observed* total (an error of the detector's expectation
  moves every segment alike and drops out), over its noise: φ is the segment's dispersion (variance /
  mean of its count per bucket around its share of each bucket's total, from the baseline buckets when
  the baseline cells carry them in ``slot`` — :func:`feedpulse.alerts.segments.load_cells` with
  ``by_slot`` — else 1, Poisson). Events come in per-user bursts, so a small segment's views scatter by
  tens of percent: its big relative swing weighs what its noise allows, not what its size suggests. A
  segment that *is* the anomaly outranks a bigger one that merely contains it (the same excess over more
  noise) and a smaller one inside it (less excess); a uniform change ranks the largest segments at the
  total's change (:attr:`Explanation.uniform`: the rest of the slice moved like the top segment, at
  least half of its change — the message says so).
- ``driver``: a count the metric comes from (the alert config's ``per_user_of``: feed users for views, views
  for likes, messenger users for messages). A segment's count moves either with it (the audience changed)
  or per unit of it (each user views less, each view is liked less). When the cells carry the driver, z² is
  the larger of the two mechanisms' own z² (:func:`_mechanism_surprise`): each is judged on less noise than
  the count, which scatters with both. Except a drop of a count that comes about once per unit of its driver
  (messages, :data:`DRIVER_ON_SPIKES_ONLY`): it removes the units with it, so it is judged on the count itself;
  each segment's driver change is still reported.
- A pair is kept only when the rest of each single-dimension parent (parent minus pair) moved clearly
  less than the pair (``pair_margin``) *and* the pair's change stands out from that rest's by
  ``pair_z`` standard errors (the noise at the counts' current level: a spike scatters more than the
  baseline did): otherwise the parent says the same with fewer words — a single
  segment's change is spread over all its pairs, and by chance one of them always looks sharper.

**Ratios** (CTR = likes / views). With weights ``w`` = each segment's share of views and rates
``r`` = its CTR (baseline ``0``, current ``1``; baseline rates rescaled so that the baseline CTR
equals the expected CTR), the change splits exactly into

    ΔCTR = Σ (w1 − w0)·(r0 − CTR0)  [mix: the audience changed]  +  Σ w1·(r1 − r0)  [rate: behaviour changed]

per dimension; a segment's contribution is its two terms, ``share`` = contribution / ΔCTR, ``change``
= r1 / r0 − 1. The score is the z² of the contribution per unit of ΔCTR (:func:`_ratio_surprise`): the
rate part against the segment's baseline rate scaled to the observed CTR (a CTR change alike everywhere
drops out), over its noise — the views share's dispersion φ for the mix part and the likes' over-dispersion
ψ given views (:func:`rate_dispersion`; likes come from users with their own propensity, a beta-binomial's
extra variance) for the rate part, both from the baseline buckets. A pair is listed only when its rate
stands out from the rest of each parent's by ``pair_z`` standard errors, as for counts. ``ratio_noise=False``
gives the older score share × |change|. :attr:`Explanation.mix_rate` holds the split along the top
segment's dimension.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DIMENSIONS: tuple[str, ...] = ("os", "gender", "age", "source", "country", "city", "exp_group")
# a city lies in one country: the pair says nothing the city does not
REDUNDANT_PAIRS = frozenset({frozenset({"country", "city"})})
RATIOS: dict[str, tuple[str, str]] = {"ctr": ("likes", "views")}
# expected count (views behind a ratio) below which a single-dimension segment is not ranked: a handful of
# heavy users make a tiny segment's views jump tenfold (a segment with no baseline is never ranked)
MIN_EXPECTED = 5.0
MIN_PAIR_EXPECTED = 20.0  # the same for a pair of dimensions ("where volume allows")
# expected distinct users below which a segment is not ranked (when the cells count users): a segment's
# events come in per-user bursts (≈ 17 views per feed user per bucket), so its noise is that of its users
MIN_USERS = 20.0  # tuned on seeds 7 and 42 (20 plants each), with PAIR_MARGIN
# messages come ≈ 1.1 per sender a bucket, not in bursts: a sender moves a segment by about one message, so a smaller
# segment is as reliable as 20 feed users' views (chosen on the tuning seeds 1–6, 7 and 42: BENCHMARKS "Messages per
# sender, measured"; 8–12 senders gave the same hit rates)
MIN_USERS_OF = {"messages": 10.0}
# Noise-aware ranking of count metrics (issue 17), chosen on the tuning seeds 7 and 42 (22 plants each):
SLOT = "slot"  # baseline cells carrying their bucket here give each segment its own noise (dispersion)
DISPERSION_PRIOR = 2.0  # buckets' worth of the pooled dispersion a segment's own estimate is shrunk towards
ANCHOR = 0.0  # reference level of the z score: 0 = the observed total (share moves), 1 = the expectation
UNIFORM_TIEBREAK = 1e-3  # weight of the plain χ² that orders segments when no share moved (a uniform change)
PAIR_Z = 3.0  # a pair is listed only when its change stands out from the rest of each parent by ≥ 3σ
USERS_OF = {"views": "feed_users", "likes": "feed_users", "ctr": "feed_users", "feed_users": "feed_users",
            "messages": "messenger_users", "messenger_users": "messenger_users"}  # fmt: skip
# the rest of the slice moved at least 1/UNIFORM_MARGIN of the top segment's change ⇒ "about the same everywhere"
UNIFORM_MARGIN = 2.0
PAIR_MARGIN = 3.0  # a pair is listed when the rest of each parent moved less than 1/PAIR_MARGIN of its change
# counts whose *drops* are judged on the count itself, not on its driver's two mechanisms: messages come ≈ 1.1 per
# sender a bucket, so a drop that removes messages removes most of their senders with them and thins messages per
# sender only where a sender had several — each mechanism sees part of the drop, the count all of it, and on drops
# the rate per sender adds only its chance dips (the harness's ceiling reads messages drops the same way). A spike
# copies messages to the same senders, which the rate mechanism sees on less noise than the count. Tuned on 42 and
# 1–20: messages drops top-1 · top-3 52.6 · 78.9 % → 57.9 · 82.9 % (n = 76; the count's z² beside the mechanisms:
# 56.6 · 82.9 %); held out: BENCHMARKS "A segment's rate can move against its count, and messages drops …".
DRIVER_ON_SPIKES_ONLY = frozenset({"messages"})
# a count per unit of its driver measured as fixed (every sender one message in every baseline bucket) is judged at
# 1 % of the Poisson variance, not at none: the least noise rate_dispersion gives an unbounded count
UNIT_DISPERSION_FLOOR = 0.01

Segment = tuple[tuple[str, str], ...]


class ExplainError(ValueError):
    """Cells that cannot be explained (a missing column, an unknown metric)."""


@dataclass(frozen=True)
class SegmentChange:
    """One segment's part in the deviation."""

    segment: Segment  # (("os", "Android"), ("city", "Moscow"))
    observed: float
    expected: float
    share: float  # of the total deviation, signed (1 = all of it)
    change: float  # own relative change (the segment's rate for a ratio metric)
    score: float
    volume: float = math.nan  # ratio metrics: the segment's denominator (views) now …
    expected_volume: float = math.nan  # … and expected (its baseline share of the current views)
    # counts with a driver: the driver's own relative change in the segment (its baseline share of the metric's
    # expectation); 1 + change = (1 + driver_change) × (1 + unit_change)
    driver_change: float = math.nan

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.segment)

    @property
    def unit_change(self) -> float:
        """Relative change of the metric per unit of its driver (views per user): NaN without a driver."""
        return (1 + self.change) / (1 + self.driver_change) - 1 if self.driver_change > -1 else math.nan

    def label(self, separator: str = " · ") -> str:
        """``Android · source=ads``: os values speak for themselves, other dimensions are named."""
        return separator.join(value if dim == "os" else f"{dim}={value}" for dim, value in self.segment)

    def within(self, other: Segment) -> bool:
        """True when ``other`` is this segment or one of its parents."""
        return set(other) <= set(self.segment)


@dataclass(frozen=True)
class MixRate:
    """ΔCTR = mix + rate along one dimension (or pair): audience shift vs behaviour within segments."""

    dimensions: tuple[str, ...]
    total: float
    mix: float
    rate: float

    @property
    def mix_share(self) -> float:
        return self.mix / self.total if self.total else 0.0

    @property
    def rate_share(self) -> float:
        return self.rate / self.total if self.total else 0.0


@dataclass(frozen=True)
class Explanation:
    """The ranked segments behind a metric's deviation in a slice."""

    metric: str
    observed: float
    expected: float
    segments: list[SegmentChange] = field(default_factory=list)
    mix_rate: MixRate | None = None
    uniform: bool = False  # the rest of the slice moved like the top segment: the change is everywhere alike
    driver: str | None = None  # the count the segments' driver_change is of (explain's ``driver``), when carried

    @property
    def deviation(self) -> float:
        return self.observed / self.expected - 1 if self.expected else math.nan

    def top(self, n: int = 3) -> list[SegmentChange]:
        return self.segments[:n]


# --------------------------------------------------------------------------------------------- helpers


def parse_slice(label: str) -> dict[str, str]:
    """``"os:Android"`` → ``{"os": "Android"}``; ``"total"`` → ``{}``."""
    if label == "total":
        return {}
    dimension, colon, value = label.partition(":")
    if not colon or not value:
        raise ExplainError(f"slice {label!r} is not 'total' or DIMENSION:VALUE")
    return {dimension: value}


def _restrict(cells: pd.DataFrame, where: Mapping[str, str]) -> pd.DataFrame:
    for dimension, value in where.items():
        if dimension not in cells.columns:
            raise ExplainError(f"cells have no column {dimension!r} for the slice; columns: {list(cells.columns)}")
        cells = cells[cells[dimension].astype(str) == str(value)]
    return cells


def _groups(dimensions: Sequence[str], pairs: bool) -> list[tuple[str, ...]]:
    singles = [(d,) for d in dimensions]
    if not pairs:
        return singles
    doubles = [p for p in itertools.combinations(dimensions, 2) if frozenset(p) not in REDUNDANT_PAIRS]
    return singles + doubles


class _Cells:
    """Current and baseline cells with every dimension factorised once: a segment table per dimension group
    is then a ``bincount`` (fast enough to rank every single and pair of a bucket within milliseconds)."""

    def __init__(self, current: pd.DataFrame, baseline: pd.DataFrame, dims: Sequence[str], columns: list[str]) -> None:
        both = pd.concat([current[list(dims)], baseline[list(dims)]], ignore_index=True)
        # the baseline bucket of each baseline row (column ``slot``), for the segments' noise; −1 = none
        self.slots = _slot_codes(baseline)
        self.n_slots = int(self.slots.max()) + 1 if len(self.slots) else 0
        self.codes: dict[str, np.ndarray] = {}
        self.values: dict[str, np.ndarray] = {}
        for d in dims:
            codes, uniques = pd.factorize(both[d].astype(str))
            self.codes[d], self.values[d] = codes.astype(np.int64), np.asarray(uniques, dtype=object)
        n1, n0 = len(current), len(baseline)
        self.weights = {
            c: (
                np.concatenate([current[c].to_numpy(dtype=float), np.zeros(n0)]),
                np.concatenate([np.zeros(n1), baseline[c].to_numpy(dtype=float)]),
            )
            for c in columns
        }
        self.n = n1 + n0

    def _key(self, dims: tuple[str, ...]) -> tuple[np.ndarray, int]:
        key = np.zeros(self.n, dtype=np.int64)
        size = 1
        for d in dims:
            key = key * len(self.values[d]) + self.codes[d]
            size *= len(self.values[d])
        return key, size

    def _present(self, key: np.ndarray, size: int) -> np.ndarray:
        return np.flatnonzero(np.bincount(key, minlength=size) > 0)

    def per_slot(self, dims: tuple[str, ...], column: str) -> np.ndarray:
        """Baseline ``column`` per segment (rows, in :meth:`aligned`'s order) and baseline bucket (columns)."""
        key, size = self._key(dims)
        present = self._present(key, size)
        base = self.weights[column][1]
        rows = self.n - len(self.slots)
        k, slots = key[rows:], self.slots
        ok = slots >= 0
        flat = np.bincount(k[ok] * self.n_slots + slots[ok], base[rows:][ok], size * self.n_slots)
        return flat.reshape(size, self.n_slots)[present]

    def aligned(self, dims: tuple[str, ...]) -> pd.DataFrame:
        """Per segment of ``dims``: ``<column>_1`` (current) and ``<column>_0`` (baseline), zero where absent."""
        key, size = self._key(dims)
        data = {}
        for column, (now, before) in self.weights.items():
            data[f"{column}_1"] = np.bincount(key, now, size)
            data[f"{column}_0"] = np.bincount(key, before, size)
        present = self._present(key, size)
        parts, rest = [], present
        for d in reversed(dims):
            parts.append(self.values[d][rest % len(self.values[d])])
            rest = rest // len(self.values[d])
        parts.reverse()
        labels = list(zip(*parts, strict=True)) if len(dims) > 1 else list(parts[0])
        index = pd.Index(labels, tupleize_cols=False, dtype=object)
        return pd.DataFrame({k: v[present] for k, v in data.items()}, index=index)


def _slot_codes(baseline: pd.DataFrame) -> np.ndarray:
    """Codes 0…T−1 of the baseline rows' ``slot`` column (its buckets), or all −1 when it has none."""
    if SLOT not in baseline.columns:
        return np.full(len(baseline), -1, dtype=np.int64)
    return pd.factorize(baseline[SLOT])[0].astype(np.int64)


def dispersion(per_slot: np.ndarray, prior: float = DISPERSION_PRIOR) -> np.ndarray:
    """Each segment's variance-to-mean ratio per bucket, from its baseline buckets (rows: segments,
    columns: buckets), shrunk towards the pooled ratio.

    The variance is that of the segment's count *around its share of each bucket's total*: the level of
    the day and the hour moves every segment alike and is the detector's business, not the segment's
    noise. Events come in per-user bursts, so a segment's count varies more than a Poisson count of its
    mean (views: ≈ 17 per feed user per bucket); segments of heavy users vary most. ``prior`` buckets'
    worth of the pooled ratio keeps a segment seen in few buckets from looking quiet by luck.
    """
    n_segments, n_slots = per_slot.shape
    if n_slots < 2 or n_segments == 0:
        return np.ones(n_segments)
    totals = per_slot.sum(axis=0)
    share = per_slot.sum(axis=1) / max(float(totals.sum()), 1e-12)
    residual = per_slot - share[:, None] * totals[None, :]
    variance = (residual**2).sum(axis=1) / (n_slots - 1)
    mean = per_slot.sum(axis=1) / n_slots
    pooled = float(variance.sum() / max(mean.sum(), 1e-12))
    ratio = (variance + prior * pooled * mean) / np.maximum((1 + prior) * mean, 1e-12)
    return np.maximum(ratio, 1.0)


def rate_dispersion(
    numerator: np.ndarray, denominator: np.ndarray, prior: float = DISPERSION_PRIOR, binomial: bool = True
) -> np.ndarray:
    """Each segment's over-dispersion of a ratio's numerator given its denominator (likes given views), from its
    baseline buckets (rows: segments, columns: buckets), shrunk towards the pooled ratio like :func:`dispersion`.

    A segment's likes in a bucket are expected at its own rate × the bucket's CTR level (the slice's CTR in
    that bucket over its CTR in all of them: the hour moves every segment's CTR alike) × its views; the ratio
    is the variance of likes around that over the binomial variance. Likes come from users with their own
    propensity (a heavy liker's views are mostly likes), so it is above 1 — a beta-binomial's over-dispersion.
    ``binomial=False``: a numerator not bounded by its denominator (views of feed users, messages of senders),
    against the Poisson variance (the mean) instead — and measured, not floored at Poisson: every unit of the
    driver brings at least one event (a sender is a user who sent a message in the bucket), so where most bring
    exactly one (≈ 1.1 messages per sender a bucket) only the events beyond the first vary, and the count per
    unit scatters ≈ 0.1 × Poisson. Floored at 1, a spike of messages per sender was judged at ten times its
    noise (BENCHMARKS "Messages per sender, measured"); views come ≈ 17 per user, in bursts, and stay above 1.
    """
    n_segments, n_slots = numerator.shape
    if n_slots < 2 or n_segments == 0:
        return np.ones(n_segments)
    num_t, den_t = numerator.sum(axis=0), denominator.sum(axis=0)
    overall = float(num_t.sum()) / max(float(den_t.sum()), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.where(den_t > 0, num_t / np.maximum(den_t, 1e-12) / max(overall, 1e-12), 1.0)
    exposure = denominator * level[None, :]
    rate = numerator.sum(axis=1) / np.maximum(exposure.sum(axis=1), 1e-12)
    mu = rate[:, None] * exposure
    p = np.clip(rate[:, None] * level[None, :], 0.0, 1.0) if binomial else 0.0
    binomial_variance = (mu * (1 - p)).sum(axis=1) / n_slots
    variance = ((numerator - mu) ** 2).sum(axis=1) / (n_slots - 1)
    pooled = float(variance.sum() / max(binomial_variance.sum(), 1e-12))
    ratio = (variance + prior * pooled * binomial_variance) / np.maximum((1 + prior) * binomial_variance, 1e-12)
    return np.maximum(ratio, 1.0 if binomial else UNIT_DISPERSION_FLOOR)


def _users_ok(frame: pd.DataFrame, users: str | None, min_users: float) -> np.ndarray:
    """Segments whose expected users (baseline users scaled to the current total) reach ``min_users``."""
    if users is None or f"{users}_0" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    before, now = frame[f"{users}_0"].to_numpy(), frame[f"{users}_1"].to_numpy()
    scale = now.sum() / before.sum() if before.sum() > 0 else 0.0
    return before * scale >= min_users


def _segment(dims: tuple[str, ...], key: object) -> Segment:
    values = key if isinstance(key, tuple) else (key,)
    return tuple((d, str(v)) for d, v in zip(dims, values, strict=True))


def _surprise(
    observed: np.ndarray, expected: np.ndarray, phi: np.ndarray, deviation: float, anchor: float,
    z2: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """The score of count segments: z² per unit of deviation for segments moving with the total, else 0.

    z = (observed − reference) / √(φ · expected), with the reference the segment's baseline share of
    ``anchor`` × the expected total + (1 − ``anchor``) × the observed one. At ``anchor`` = 0 the question is
    "did the segment's *share* move?": an error of the detector's expectation shifts every segment alike
    and drops out (a large segment no longer wins on the total's own miss), while a change confined to a
    segment still moves its share. φ: the segment's dispersion (:func:`dispersion`), so a segment that
    scatters by tens of percent from bucket to bucket needs a larger swing to rank. ``z2``: given for a count
    with a driver (:func:`_mechanism_surprise`, anchored at the observed totals as ``anchor`` = 0). A segment
    moves with the total when its count does or, with a driver, when either mechanism does: a segment whose
    likes per view fell while a burst of views lifted its likes still explains part of a likes drop (the rate
    part; its ``share`` of the deviation, from the count, is then negative, and the message shows the split).
    On the tuning seeds that names 10 more plants of 942 views, likes and messages plants in the top 3.
    """
    level = anchor + (1 - anchor) * (1 + deviation / max(float(expected.sum()), 1e-12))
    residual = observed - expected * level
    noise = np.maximum(phi * expected, 1e-12)
    moving = (observed - expected) * deviation > 0
    if z2 is None:
        z2 = np.where(residual * deviation > 0, residual**2 / noise, 0.0)
    else:  # the driver's two mechanisms replace the count's own z (the same anchor), each moving its own way
        moving |= z2 > 0
    # a change alike everywhere moves no share: the plain χ² (vs the expectation) then orders the segments,
    # largest first, far below any segment whose share moved
    plain = (observed - expected) ** 2 / noise
    return np.where(moving, np.maximum(z2, UNIFORM_TIEBREAK * plain) / abs(deviation), 0.0)


def _mechanism_surprise(
    frame: pd.DataFrame, metric: str, driver: str, per_slot: tuple[np.ndarray, np.ndarray], deviation: float,
    prior: float,
) -> np.ndarray:  # fmt: skip
    """z² of count segments whose metric has a driver (``explain``'s ``driver``): the larger of two, each for segments
    moving with the total (else 0) — it replaces the metric's own z² in :func:`_surprise`. ``frame``: the
    segments (:meth:`_Cells.aligned`); ``per_slot``: the metric's and the driver's baseline per segment and
    bucket (:meth:`_Cells.per_slot`).

    - *driver* (the audience changed): the segment's share of the driver's observed total moved,
      z = (c − ŝ·C) / √(φ_c · ŝ·C) with φ_c the driver's :func:`dispersion`;
    - *rate* (each unit of the driver yields more or less): the metric against its baseline rate per unit of the
      driver × the driver's count now, scaled so that the rates of all segments together give the observed total
      (a change of the rate alike everywhere drops out): z = (m − k·ρ₀·c) / √(ψ · k·ρ₀·c), ψ the metric's
      :func:`rate_dispersion` given the driver (against the binomial variance for likes per view, the Poisson one
      for views per user and messages per sender — below it for messages, which come about one per sender).

    A change confined to a segment moves one mechanism far beyond its noise and the other not at all, and each
    mechanism's noise is below the metric's own (views scatter both with the users and with each user's burst),
    so the segment that changed stands out more clearly than on the metric's counts alone. The larger of the two,
    not one mechanism: on the harness's plants (which thin views per user) the rate alone ranks a little better,
    but where users vanish — a feed_users plant explained on views — it names the planted segment in 5 % of the
    plants against 80 % for the larger of the two (held-out seeds; BENCHMARKS "Root cause by mechanism"), and
    production drops come either way.
    """
    m_per_slot, c_per_slot = per_slot
    m1, m0 = frame[f"{metric}_1"].to_numpy(), frame[f"{metric}_0"].to_numpy()
    c1, c0 = frame[f"{driver}_1"].to_numpy(), frame[f"{driver}_0"].to_numpy()
    bounded = (metric, driver) in RATIOS.values()  # likes per view: at most one (binomial)
    audience = _audience_z2(c1, c0, dispersion(c_per_slot, prior), deviation)
    psi = rate_dispersion(m_per_slot, c_per_slot, prior, binomial=bounded)
    rate = _rate_z2(m1, m0, c1, c0, psi, deviation, bounded)
    return np.maximum(audience, rate)


def _audience_z2(c1: np.ndarray, c0: np.ndarray, phi: np.ndarray, deviation: float) -> np.ndarray:
    """z² of the driver's share of its observed total (:func:`_mechanism_surprise`), for segments moving with the
    deviation (else 0); ``phi``: the driver's :func:`dispersion`."""
    expected = c0 * c1.sum() / max(float(c0.sum()), 1e-12)
    residual = c1 - expected
    return np.where(residual * deviation > 0, residual**2 / np.maximum(phi * expected, 1e-12), 0.0)


def _rate_z2(
    m1: np.ndarray, m0: np.ndarray, c1: np.ndarray, c0: np.ndarray, psi: np.ndarray, deviation: float, bounded: bool
) -> np.ndarray:
    """z² of the metric per unit of its driver (:func:`_mechanism_surprise`), for segments moving with the
    deviation (else 0); ``psi``: the metric's :func:`rate_dispersion` given the driver."""
    rho = np.where(c0 > 0, m0 / np.maximum(c0, 1e-12), 0.0)
    at_rate = rho * c1
    k = m1.sum() / max(float(at_rate.sum()), 1e-12)
    expected = k * at_rate
    p = np.clip(k * rho, 0.0, 1.0) if bounded else 0.0
    residual = m1 - expected
    return np.where(residual * deviation > 0, residual**2 / np.maximum(psi * expected * (1 - p), 1e-12), 0.0)


def _score(share: np.ndarray, change: np.ndarray) -> np.ndarray:
    return np.where(share > 0, share * np.abs(change), 0.0)


def _check_columns(cells: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    missing = [c for c in needed if c not in cells.columns]
    if missing:
        raise ExplainError(f"{what} cells lack column(s) {missing}; columns: {list(cells.columns)}")


# --------------------------------------------------------------------------------------------- counts


def _count_segments(
    cells: _Cells,
    metric: str,
    groups: list[tuple[str, ...]],
    scale: float,
    deviation: float,
    min_expected: float,
    min_pair_expected: float,
    users: tuple[str | None, float] = (None, 0.0),
    noise: tuple[float, float] = (0.0, 1.0),
    phis: dict[Segment, float] | None = None,
    driver: str | None = None,
    mechanisms: bool = True,
) -> list[SegmentChange]:
    """``driver``: its change is reported for each segment and, with ``mechanisms``, the count is judged by the
    driver's two mechanisms (:func:`_mechanism_surprise`) instead of its own noise."""
    prior, anchor = noise
    out = []
    for dims in groups:
        frame = cells.aligned(dims)
        observed = frame[f"{metric}_1"].to_numpy()
        expected = frame[f"{metric}_0"].to_numpy() * scale
        floor = min_expected if len(dims) == 1 else min_pair_expected
        keep = (expected >= max(floor, 1e-9)) & _users_ok(frame, *users)
        share = (observed - expected) / deviation
        change = observed / np.where(keep, expected, 1.0) - 1
        per_slot = cells.per_slot(dims, metric)
        phi = dispersion(per_slot, prior)
        z2 = None
        driver_change = np.full(len(frame), math.nan)
        if driver is not None:
            if mechanisms:
                driver_per_slot = cells.per_slot(dims, driver)
                z2 = _mechanism_surprise(frame, metric, driver, (per_slot, driver_per_slot), deviation, prior)
            driver_expected = frame[f"{driver}_0"].to_numpy() * scale
            driver_change = np.where(
                driver_expected > 0, frame[f"{driver}_1"].to_numpy() / np.maximum(driver_expected, 1e-12) - 1, math.nan
            )
        score = _surprise(observed, expected, phi, deviation, anchor, z2)
        for i in np.flatnonzero(keep & ((score > 0) | (len(dims) == 1))):
            segment = _segment(dims, frame.index[i])
            numbers = (observed[i], expected[i], share[i], change[i], score[i])
            out.append(SegmentChange(segment, *map(float, numbers), driver_change=float(driver_change[i])))
            if phis is not None:
                phis[segment] = float(phi[i])
    return out


# --------------------------------------------------------------------------------------------- ratios


def _ratio_frame(cells: _Cells, dims: tuple[str, ...], num: str, den: str, rate_scale: float) -> pd.DataFrame:
    frame = cells.aligned(dims)
    d1, d0 = frame[f"{den}_1"], frame[f"{den}_0"]
    frame["w1"] = d1 / d1.sum() if d1.sum() > 0 else 0.0
    frame["w0"] = d0 / d0.sum() if d0.sum() > 0 else 0.0
    frame["r1"] = (frame[f"{num}_1"] / d1.where(d1 > 0)).fillna(0.0)
    frame["r0"] = (frame[f"{num}_0"] / d0.where(d0 > 0)).fillna(0.0) * rate_scale
    ctr0 = float((frame["w0"] * frame["r0"]).sum())
    frame["mix"] = (frame["w1"] - frame["w0"]) * (frame["r0"] - ctr0)
    frame["rate"] = frame["w1"] * (frame["r1"] - frame["r0"])
    return frame


def _ratio_surprise(
    cells: _Cells, frame: pd.DataFrame, dims: tuple[str, ...], num: str, den: str, delta: float, prior: float
) -> tuple[np.ndarray, np.ndarray]:
    """The score of ratio segments (and their likes' dispersion ψ): z² of a segment's contribution per unit of
    ΔCTR, for segments moving with it (else 0) — the ratio's counterpart of :func:`_surprise`.

    The contribution is mix + rate (module doc) with the rate part taken against the segment's baseline rate
    × k, k = the observed CTR over the CTR the current mix would have at the baseline rates: a CTR change alike
    in every segment (or an error of the detector's expected CTR) moves no segment's rate relative to the rest.
    Its variance: (r0 − CTR0)² · Var(w1) + w1² · Var(r1), with Var(w1) = φ · w0 / V (the segment's views
    share; φ the views' :func:`dispersion`) and Var(r1) = ψ · r(1 − r) / (w0 · V) (ψ the likes'
    :func:`rate_dispersion`; V the slice's views now). Without baseline buckets φ = ψ = 1 (Poisson, binomial).
    """
    w0, w1 = frame["w0"].to_numpy(), frame["w1"].to_numpy()
    r0, r1 = frame["r0"].to_numpy(), frame["r1"].to_numpy()
    views = float(frame[f"{den}_1"].sum())
    ctr0 = float((w0 * r0).sum())
    at_mix = float((w1 * r0).sum())
    observed = float((w1 * r1).sum())
    k = observed / at_mix if at_mix > 0 else 1.0
    views_per_slot = cells.per_slot(dims, den)
    phi = dispersion(views_per_slot, prior)
    psi = rate_dispersion(cells.per_slot(dims, num), views_per_slot, prior)
    mix = (w1 - w0) * (r0 - ctr0)
    anchored = mix + w1 * (r1 - r0 * k)
    p = np.clip(r0 * k, 0.0, 1.0)
    exposure = np.maximum(w0 * views, 1e-12)
    variance = (r0 - ctr0) ** 2 * phi * w0 / max(views, 1e-12) + w1**2 * psi * p * (1 - p) / exposure
    variance = np.maximum(variance, 1e-18)
    z2 = np.where(anchored * delta > 0, anchored**2 / variance, 0.0)
    # a change alike everywhere moves no segment against the rest: the plain χ² then orders the segments
    plain = (frame["mix"] + frame["rate"]).to_numpy()
    moving = plain * delta > 0
    return np.where(moving, np.maximum(z2, UNIFORM_TIEBREAK * plain**2 / variance) / abs(delta), 0.0), psi


def _ratio_segments(
    cells: _Cells,
    metric: str,
    groups: list[tuple[str, ...]],
    rate_scale: float,
    delta: float,
    min_expected: float,
    min_pair_expected: float,
    users: tuple[str | None, float] = (None, 0.0),
    noise: float | None = DISPERSION_PRIOR,
    phis: dict[Segment, float] | None = None,
) -> tuple[list[SegmentChange], dict[tuple[str, ...], MixRate]]:
    """Ratio segments; ``noise``: the dispersion prior of the noise-aware score (:func:`_ratio_surprise`), or
    None for the plain share × |change|."""
    num, den = RATIOS[metric]
    out, splits = [], {}
    for dims in groups:
        frame = _ratio_frame(cells, dims, num, den, rate_scale)
        splits[dims] = MixRate(dims, delta, float(frame["mix"].sum()), float(frame["rate"].sum()))
        contribution = (frame["mix"] + frame["rate"]).to_numpy()
        share = contribution / delta
        r0, r1 = frame["r0"].to_numpy(), frame["r1"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(r0 > 0, r1 / np.maximum(r0, 1e-12) - 1, 0.0)
        if noise is None:
            score, psi = _score(share, change), np.ones(len(frame))
        else:
            score, psi = _ratio_surprise(cells, frame, dims, num, den, delta, noise)
        volume = frame[f"{den}_0"].to_numpy() * _volume_scale(frame, den)
        now = frame[f"{den}_1"].to_numpy()
        floor = min_expected if len(dims) == 1 else min_pair_expected
        ok = (volume >= floor) & _users_ok(frame, *users)
        for i in np.flatnonzero(ok & ((score > 0) | (len(dims) == 1))):
            segment = _segment(dims, frame.index[i])
            out.append(SegmentChange(segment, float(r1[i]), float(r0[i]), float(share[i]),
                                     float(change[i]), float(score[i]), float(now[i]), float(volume[i])))  # fmt: skip
            if phis is not None:
                phis[segment] = float(psi[i])
    return out, splits


def _volume_scale(frame: pd.DataFrame, den: str) -> float:
    """Baseline denominators per segment in current units (the baseline spans several buckets)."""
    before = frame[f"{den}_0"].sum()
    return float(frame[f"{den}_1"].sum() / before) if before > 0 else 0.0


# --------------------------------------------------------------------------------------------- ranking


def _complement_change(parent: SegmentChange, pair: SegmentChange, floor: float) -> float | None:
    """Relative change of the parent without the pair (None when that rest is too small to tell)."""
    if math.isnan(parent.volume):  # counts
        observed, expected = parent.observed - pair.observed, parent.expected - pair.expected
    else:  # ratios: the rest's rate from the numerators and denominators
        den1, den0 = parent.volume - pair.volume, parent.expected_volume - pair.expected_volume
        if den0 < floor or den0 <= 0 or den1 <= 0:
            return None
        observed = (parent.observed * parent.volume - pair.observed * pair.volume) / den1
        expected = (parent.expected * parent.expected_volume - pair.expected * pair.expected_volume) / den0
        return observed / expected - 1 if expected > 0 else None
    # a rest expected at nothing has no change to compare (the floor may be 0: explain(min_expected=0))
    return observed / expected - 1 if expected >= floor and expected > 0 else None


def _moved_alike(total: SegmentChange, ranked: list[SegmentChange], margin: float, floor: float) -> bool:
    """The rest of the slice (total minus the top segment) moved like the top one: no segment stands out."""
    if not ranked:
        return False
    top = ranked[0]
    rest = _complement_change(total, top, floor)
    return rest is not None and rest * top.change > 0 and abs(rest) * margin >= abs(top.change)


def _stands_out(parent: SegmentChange, pair: SegmentChange, phi: float, floor: float = MIN_EXPECTED) -> float:
    """z of the pair's change against the rest of the parent's: how surely the pair moved more.

    Counts: relative changes o/e − 1 with the variance φ · o / e² of each — the noise at the level the pair and
    the rest are *now* (a spike that replicates bursts of events scatters more than the baseline did, and a
    pair inside a spiking segment then looks sharper than its rest by chance). Ratios (``volume`` set): ψ × the
    binomial variance of both rates."""
    if not math.isnan(parent.volume):
        rest_change = _complement_change(parent, pair, floor)
        rest_volume, p = parent.volume - pair.volume, pair.expected
        if rest_change is None or rest_volume <= 0 or pair.volume <= 0 or not 0 < p < 1:
            return -math.inf
        noise = math.sqrt(phi * (1 - p) / p * (1 / pair.volume + 1 / rest_volume))
        return (pair.change - rest_change) * math.copysign(1.0, pair.change) / noise
    rest = parent.expected - pair.expected
    if rest <= 0 or pair.expected <= 0:
        return -math.inf
    rest_observed = parent.observed - pair.observed
    rest_change = rest_observed / rest - 1
    noise = math.sqrt(phi * (max(pair.observed, 1.0) / pair.expected**2 + max(rest_observed, 1.0) / rest**2))
    return (pair.change - rest_change) * math.copysign(1.0, pair.change) / noise


def _prune_pairs(
    segments: list[SegmentChange], margin: float, floor: float,
    phis: dict[Segment, float] | None = None, pair_z: float = 0.0,
) -> list[SegmentChange]:  # fmt: skip
    """Keep a pair only where it *is* the change within each parent: the rest of the parent (parent minus
    pair) moved less than ``1 / margin`` of the pair's change and (counts, ``phis`` given) the pair's change
    exceeds the rest's by ``pair_z`` standard errors. Where the rest moved alike, the parent says the same
    with fewer words (a single segment's change is spread over all its pairs, and with few events per pair
    one of them always looks sharper by chance)."""
    singles = {s.segment: s for s in segments if len(s.segment) == 1}
    kept = []
    for s in segments:
        if len(s.segment) > 1:
            rests = [
                _complement_change(singles[(part,)], s, floor) if (part,) in singles else None for part in s.segment
            ]
            if any(r is None or (r * s.change > 0 and abs(r) * margin >= abs(s.change)) for r in rests):
                continue
            if phis is not None and any(
                _stands_out(singles[(part,)], s, max(phis.get((part,), 1.0), phis.get(s.segment, 1.0)), floor) < pair_z
                for part in s.segment
            ):
                continue
        kept.append(s)
    return kept


def explain(
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    metric: str,
    *,
    expected_total: float | None = None,
    slice_label: str = "total",
    dimensions: Sequence[str] = DIMENSIONS,
    pairs: bool = True,
    min_expected: float = MIN_EXPECTED,
    min_pair_expected: float = MIN_PAIR_EXPECTED,
    pair_margin: float = PAIR_MARGIN,
    limit: int = 10,
    min_users: float | None = None,
    dispersion_prior: float = DISPERSION_PRIOR,
    anchor: float = ANCHOR,
    pair_z: float = PAIR_Z,
    ratio_noise: bool = True,
    driver: str | None = None,
) -> Explanation:
    """Rank the segments of ``slice_label`` that explain ``metric``'s deviation (see the module doc).

    ``expected_total``: the detector's expected value for the slice (for a ratio, the expected
    ratio); default the baseline's own total (ratio) — e.g. yesterday for a day-over-day change.
    ``driver``: the count ``metric`` comes from (a count metric's ``per_user_of``), judged when both frames
    carry it (module doc); ignored for ratios, which split into mix and rate themselves.
    ``min_users``: the expected users below which a segment is not ranked; default :data:`MIN_USERS`, or the
    metric's own in :data:`MIN_USERS_OF`.
    """
    where = parse_slice(slice_label)
    columns = list(RATIOS.get(metric, (metric,)))
    _check_columns(current, columns, "current")
    _check_columns(baseline, columns, "baseline")
    current, baseline = _restrict(current, where), _restrict(baseline, where)
    dims = [d for d in dimensions if d not in where and d in current.columns and d in baseline.columns]
    groups = _groups(dims, pairs)
    users_column = USERS_OF.get(metric)
    if users_column not in current.columns or users_column not in baseline.columns:
        users_column = None  # cells without user counts: the count floors alone
    users = (users_column, MIN_USERS_OF.get(metric, MIN_USERS) if min_users is None else min_users)
    if metric in RATIOS or driver not in current.columns or driver not in baseline.columns:
        driver = None  # the count's own noise alone
    extra = [c for c in (users_column, driver) if c]
    cell_columns = list(dict.fromkeys([*columns, *extra]))
    if metric in RATIOS:
        cells = _Cells(current, baseline, dims, cell_columns)
        return _explain_ratio(cells, current, baseline, metric, expected_total, groups, min_expected, min_pair_expected,
                              pair_margin, limit, users, dispersion_prior if ratio_noise else None, pair_z)  # fmt: skip
    observed = float(current[metric].sum())
    base_total = float(baseline[metric].sum())
    expected = base_total if expected_total is None else float(expected_total)
    deviation = observed - expected
    if deviation == 0 or base_total <= 0 or not math.isfinite(expected):
        return Explanation(metric, observed, expected)
    cells = _Cells(current, baseline, dims, cell_columns)
    scale = expected / base_total
    phis: dict[Segment, float] = {}
    mechanisms = deviation > 0 or metric not in DRIVER_ON_SPIKES_ONLY
    segments = _count_segments(cells, metric, groups, scale, deviation, min_expected, min_pair_expected, users,
                               (dispersion_prior, anchor), phis, driver, mechanisms)  # fmt: skip
    ranked = _rank(segments, pair_margin, min_expected, limit, phis, pair_z)
    total = SegmentChange((), observed, expected, 1.0, observed / expected - 1 if expected else math.nan, 0.0)
    uniform = _moved_alike(total, ranked, UNIFORM_MARGIN, min_expected)
    return Explanation(metric, observed, expected, ranked, uniform=uniform, driver=driver)


def _explain_ratio(
    cells: _Cells,
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    metric: str,
    expected_total: float | None,
    groups: list[tuple[str, ...]],
    min_expected: float,
    min_pair_expected: float,
    pair_margin: float,
    limit: int,
    users: tuple[str | None, float] = (None, 0.0),
    noise: float | None = DISPERSION_PRIOR,
    pair_z: float = PAIR_Z,
) -> Explanation:
    num, den = RATIOS[metric]
    views1, views0 = float(current[den].sum()), float(baseline[den].sum())
    if views1 <= 0 or views0 <= 0:
        return Explanation(metric, math.nan, math.nan)
    observed = float(current[num].sum()) / views1
    base_ratio = float(baseline[num].sum()) / views0
    expected = base_ratio if expected_total is None else float(expected_total)
    delta = observed - expected
    if delta == 0 or base_ratio <= 0 or not math.isfinite(expected):
        return Explanation(metric, observed, expected)
    psis: dict[Segment, float] | None = {} if noise is not None else None
    segments, splits = _ratio_segments(cells, metric, groups, expected / base_ratio, delta,
                                       min_expected, min_pair_expected, users, noise, psis)  # fmt: skip
    ranked = _rank(segments, pair_margin, min_expected, limit, psis, pair_z)
    lead = ranked[0].dimensions if ranked else groups[0] if groups else None
    total = SegmentChange((), observed, expected, 1.0, observed / expected - 1, 0.0, views1, views1)
    uniform = _moved_alike(total, ranked, UNIFORM_MARGIN, min_expected)
    return Explanation(metric, observed, expected, ranked, splits.get(lead) if lead else None, uniform)


def _rank(
    segments: list[SegmentChange], pair_margin: float, floor: float, limit: int,
    phis: dict[Segment, float] | None = None, pair_z: float = 0.0,
) -> list[SegmentChange]:  # fmt: skip
    kept = [s for s in _prune_pairs(segments, pair_margin, floor, phis, pair_z) if s.score > 0]
    kept.sort(key=lambda s: (-s.score, len(s.segment), s.segment))
    return kept[:limit]
