"""The reference an A/A result is judged against: fair random re-splits of the same users.

An A/A check asks "do these two groups behave like a fair random split of these same users?". The
figures of the course's procedure (the share of p ≤ alpha over 10,000 t-tests of 500-user draws, the
KS distance of those p-values from uniform) depend on the population: drawing 500 of 2,000 users
without replacement makes the t-test conservative (fpr ≈ 3 %), and a population gap that a fair split
produces now and then (2 σ in ~5 % of splits) is repeated in every one of the 10,000 draws (fpr ≈ 7 %).
Fixed tolerances cannot be right for every population, so each statistic is placed in its distribution
over ``resplits`` fair re-splits of the pooled users (group sizes kept):

- a re-split puts every user in group a with probability n_a / n (a fair coin, as a hash split does, so
  group sizes vary as they would); users with the same CTR are interchangeable, so a re-split is drawn
  as binomial counts per distinct CTR value — rows × distinct values, not rows × users;
- full-group statistics (Welch t of the difference of mean user CTR, two-sample KS distance of the
  per-user CTR distributions) are computed exactly for every re-split (vectorised over re-splits);
- the 500-user procedure cannot be rerun 10,000 times per re-split, so its p-value distribution for a
  re-split is computed from the re-split's group means and variances: a draw's Welch t is
  ``(Δ + e) / SE`` with ``e`` the sampling error of the two sample means (finite-population variance
  ``S²/k · (n − k)/n``), i.e. ``T = m + √c·W`` with ``m = Δ/SE``, ``c = Var(e)/SE²``, ``W ~ t(2k−2)``.
  The empirical CDF of ``sims`` p-values from that distribution is sampled exactly (multinomial counts
  on a grid of p), which gives the re-split's fpr and KS distance *with* the Monte-Carlo noise of
  ``sims`` draws, as observed. The harness (:mod:`feedpulse.experiments.calibrate`) measures that the
  whole rule keeps its false "broken" rate on fair splits where the draws are really simulated.

Statistics whose large values mean "not like a fair split": fpr (one-sided, high), KS distance of the
p-values, |Welch t| of the full groups and the groups' KS distance. Their p-values are combined by the
smallest one, itself calibrated on the same re-splits (min-p), so four looks cost no extra false alarms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import special, stats

STATISTICS: tuple[str, ...] = ("fpr", "pvalue_ks", "mean_diff", "distribution_ks")
GRID_POINTS = 100  # p-value grid of the KS distance (observed and reference alike), step 0.01
CHUNK_CELLS = 4_000_000  # re-split label-matrix cells per chunk


@dataclass(frozen=True)
class Population:
    """The pooled per-user CTRs of both groups as distinct values with their user counts, and the group sizes."""

    values: np.ndarray  # distinct CTRs, ascending
    counts: np.ndarray  # users per distinct CTR
    n_a: int
    n_b: int

    @classmethod
    def pool(cls, ctr_a: np.ndarray, ctr_b: np.ndarray) -> Population:
        values, counts = np.unique(np.concatenate([ctr_a, ctr_b]), return_counts=True)
        return cls(values, counts, len(ctr_a), len(ctr_b))

    def counts_of(self, ctr: np.ndarray) -> np.ndarray:
        """Users of ``ctr`` per distinct value (one row)."""
        return np.bincount(np.searchsorted(self.values, ctr), minlength=len(self.values))[None, :]

    def resplit(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        """``rows`` fair random splits: every user in group a with probability n_a / n, as a hash split does;
        as counts of group a per distinct value (rows × values), i.e. binomial per value."""
        share = self.n_a / (self.n_a + self.n_b)
        out = np.empty((rows, len(self.counts)), dtype=np.int64)
        single = self.counts == 1  # most values when views are many: a coin flip is ~10× cheaper than binomial
        out[:, single] = rng.random((rows, int(single.sum()))) < share
        out[:, ~single] = rng.binomial(self.counts[~single], share, size=(rows, int((~single).sum())))
        return out


@dataclass(frozen=True)
class SplitStats:
    """Per split (one row each): group sizes, means, variances (ddof 1), full-group Welch t and groups' KS D."""

    n_a: np.ndarray
    n_b: np.ndarray
    mean_a: np.ndarray
    mean_b: np.ndarray
    var_a: np.ndarray
    var_b: np.ndarray
    welch_t: np.ndarray
    distribution_ks: np.ndarray


def split_stats(pop: Population, counts_a: np.ndarray) -> SplitStats:
    """Statistics of the splits given as group a's users per distinct value (rows × ``pop.values``)."""
    x = pop.values
    n_a = counts_a.sum(axis=1).astype(np.float64)
    n_b = pop.counts.sum() - n_a
    weights = counts_a.astype(np.float64)
    sum_a, sq_a = weights @ x, weights @ (x * x)
    sum_b, sq_b = pop.counts @ x - sum_a, pop.counts @ (x * x) - sq_a
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_a, mean_b = sum_a / n_a, sum_b / n_b
        var_a = np.maximum(sq_a - n_a * mean_a**2, 0.0) / (n_a - 1)
        var_b = np.maximum(sq_b - n_b * mean_b**2, 0.0) / (n_b - 1)
        welch = (mean_a - mean_b) / np.sqrt(var_a / n_a + var_b / n_b)
        cum_a = np.cumsum(counts_a, axis=1)
        cum_b = np.cumsum(pop.counts) - cum_a
        distance = np.abs(cum_a / n_a[:, None] - cum_b / n_b[:, None]).max(axis=1)
    return SplitStats(n_a, n_b, mean_a, mean_b, var_a, var_b, welch, distance)


def pvalue_grid(alpha: float, points: int = GRID_POINTS) -> np.ndarray:
    """Grid of p in (0, 1] on which the p-values' CDF is compared with uniform; contains alpha."""
    return np.unique(np.append(np.linspace(0.0, 1.0, points + 1)[1:], alpha))


def empirical_cdf(pvalues: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Share of p-values ≤ each grid point."""
    return np.searchsorted(np.sort(pvalues), grid, side="right") / len(pvalues)


def model_cdf(s: SplitStats, sample_size: int, grid: np.ndarray) -> np.ndarray:
    """P(p ≤ u) of one draw's Welch p-value for each split (rows) and grid point u (columns)."""
    k = sample_size
    n_a, n_b = np.maximum(s.n_a, k), np.maximum(s.n_b, k)
    se2 = (s.var_a + s.var_b) / k
    err2 = s.var_a / k * (n_a - k) / n_a + s.var_b / k * (n_b - k) / n_b
    with np.errstate(divide="ignore", invalid="ignore"):
        m = ((s.mean_a - s.mean_b) / np.sqrt(se2))[:, None]
        scale = np.sqrt(err2 / se2)[:, None]
    df = 2 * k - 2
    q = stats.t.isf(grid / 2, df)[None, :]  # p ≤ u ⇔ |T| ≥ q(u)
    cdf = _t_cdf_table(df)
    return 1.0 - cdf((q - m) / scale) + cdf((-q - m) / scale)


@cache
def _t_cdf_table(df: int, limit: float = 40.0, step: float = 5e-4) -> Callable[[np.ndarray], np.ndarray]:
    """The t(df) CDF by linear interpolation in a table (error < 1e-8; scipy's is ~100× slower per value)."""
    x = np.arange(-limit, limit + step / 2, step)
    y = special.stdtr(df, x)
    return lambda values: np.interp(values, x, y, left=0.0, right=1.0)


def sampled_cdf(cdf: np.ndarray, sims: int, rng: np.random.Generator) -> np.ndarray:
    """The empirical CDF (on the grid) of ``sims`` p-values drawn from each row's ``cdf`` (exact: multinomial)."""
    probs = np.diff(cdf, prepend=0.0, axis=1)
    probs = np.clip(probs, 0.0, None)
    probs /= probs.sum(axis=1, keepdims=True)
    counts = rng.multinomial(sims, probs)
    return np.cumsum(counts, axis=1) / sims


@dataclass
class Reference:
    """Every statistic for the observed split and for each fair re-split."""

    observed: dict[str, float]
    resplits: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        return len(self.resplits["fpr"])

    def pvalue(self, name: str) -> float:
        """Share of re-splits at least as extreme as observed, (1 + count) / (1 + R)."""
        ref = self.resplits[name]
        return float((1 + np.count_nonzero(ref >= self.observed[name])) / (1 + len(ref)))

    def percentile(self, name: str) -> float:
        """Share of re-splits below the observed value (0–100)."""
        return float(100.0 * np.count_nonzero(self.resplits[name] < self.observed[name]) / self.size)

    def quantiles(self, name: str, q: tuple[float, ...] = (0.025, 0.5, 0.975)) -> list[float]:
        return [float(v) for v in np.quantile(self.resplits[name], q)]

    def combined_pvalue(self) -> float:
        """min-p over the statistics, calibrated on the re-splits (each re-split's own min-p)."""
        observed_min = min(self.pvalue(name) for name in STATISTICS)
        ref_min = np.ones(self.size)
        for name in STATISTICS:
            ordered = np.sort(self.resplits[name])
            at_least = self.size - np.searchsorted(ordered, self.resplits[name], side="left")
            ref_min = np.minimum(ref_min, at_least / self.size)
        return float((1 + np.count_nonzero(ref_min <= observed_min)) / (1 + self.size))


def reference(
    ctr_a: np.ndarray,
    ctr_b: np.ndarray,
    pvalues: np.ndarray,
    sample_size: int,
    alpha: float,
    resplits: int,
    rng: np.random.Generator,
) -> Reference:
    """Observed statistics (real ``pvalues`` of the draws) and their reference over ``resplits`` fair re-splits."""
    pop = Population.pool(ctr_a, ctr_b)
    grid = pvalue_grid(alpha)
    at_alpha = int(np.searchsorted(grid, alpha))
    sims = len(pvalues)

    obs = split_stats(pop, pop.counts_of(ctr_a))
    obs_cdf = empirical_cdf(pvalues, grid)
    observed = {
        "fpr": float(np.mean(pvalues <= alpha)),
        "pvalue_ks": float(np.abs(obs_cdf - grid).max()),
        "mean_diff": float(abs(obs.welch_t[0])),
        "distribution_ks": float(obs.distribution_ks[0]),
    }

    rows = max(1, CHUNK_CELLS // len(pop.values))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in STATISTICS}
    for start in range(0, resplits, rows):
        s = split_stats(pop, pop.resplit(rng, min(rows, resplits - start)))
        ecdf = sampled_cdf(model_cdf(s, sample_size, grid), sims, rng)
        parts["fpr"].append(ecdf[:, at_alpha])
        parts["pvalue_ks"].append(np.abs(ecdf - grid).max(axis=1))
        parts["mean_diff"].append(np.abs(s.welch_t))
        parts["distribution_ks"].append(s.distribution_ks)
    return Reference(observed, {name: np.concatenate(values) for name, values in parts.items()})
