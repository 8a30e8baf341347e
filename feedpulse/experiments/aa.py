"""A/A test: does the split system (and the Welch t-test on per-user CTR) keep its false positive rate?

``run_aa`` draws ``sample_size`` users per group without replacement ``sims`` times, runs a Welch
t-test on per-user CTR for every draw, and checks that the share of p ≤ alpha (the false positive
rate) is ≈ alpha — with a Wilson confidence interval — and that the p-values are uniform
(Kolmogorov–Smirnov). Everything is vectorised: a chunk of draws is one index matrix, and the
t statistics and p-values of a chunk are computed on arrays (no per-simulation ``ttest_ind``).

Users with 0 views have no CTR and are left out of the draws (their number is reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from feedpulse.experiments.data import ExperimentDataError, group_frame, per_user_ctr, validate

CHUNK_CELLS = 4_000_000  # index-matrix cells per chunk (bounds memory: ~32 MB of int64 per group)
FPR_TOLERANCE = 0.005  # an fpr up to alpha + this still counts as "works" when the CI misses alpha
UNIFORMITY_THRESHOLD = 0.05  # KS p-value below this ⇒ the p-values are not uniform ...
UNIFORMITY_MAX_DEVIATION = 0.02  # ... unless their CDF stays within 2 pp of uniform (KS distance D)


@dataclass(frozen=True)
class TestStat:
    """One test's statistic and two-sided p-value."""

    statistic: float
    pvalue: float

    def to_dict(self) -> dict[str, float | None]:
        return {"statistic": _finite(self.statistic), "pvalue": _finite(self.pvalue)}

    def significant(self, alpha: float) -> bool:
        return bool(np.isfinite(self.pvalue) and self.pvalue <= alpha)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def welch_t(a: np.ndarray, b: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Welch's t statistic of mean(a) − mean(b) and its two-sided p-value, along ``axis`` (vectorised).

    Matches ``scipy.stats.ttest_ind(a, b, equal_var=False, axis=axis)``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n_a, n_b = a.shape[axis], b.shape[axis]
    var_a = a.var(axis=axis, ddof=1) / n_a
    var_b = b.var(axis=axis, ddof=1) / n_b
    se2 = var_a + var_b
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (a.mean(axis=axis) - b.mean(axis=axis)) / np.sqrt(se2)
        df = se2**2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    p = 2.0 * stats.t.sf(np.abs(t), df)
    return t, p


def welch_test(a: np.ndarray, b: np.ndarray) -> TestStat:
    """Welch t-test of two 1-d samples (statistic > 0 ⇔ mean(a) > mean(b))."""
    t, p = welch_t(a, b)
    return TestStat(float(t), float(p))


def draw_indices(rng: np.random.Generator, n: int, k: int, rows: int) -> np.ndarray:
    """``rows`` independent uniform k-subsets of range(n), as a (rows, k) index matrix.

    For k ≤ n/4: draw with replacement, then redraw duplicates until none is left (the procedure is
    symmetric in the labels, so each row is a uniform k-subset); costs O(rows·k·log k), not O(rows·n).
    Otherwise: the k smallest of n random keys per row.
    """
    if not 0 < k <= n:
        raise ValueError(f"cannot draw {k} of {n} users without replacement")
    if 4 * k > n:
        keys = rng.random((rows, n))
        return np.argpartition(keys, k - 1, axis=1)[:, :k]
    idx = rng.integers(0, n, size=(rows, k))
    while True:
        idx.sort(axis=1)
        dup = np.zeros(idx.shape, dtype=bool)
        dup[:, 1:] = idx[:, 1:] == idx[:, :-1]
        count = int(dup.sum())
        if count == 0:
            return idx
        idx[dup] = rng.integers(0, n, size=count)


def aa_pvalues(
    ctr_a: np.ndarray,
    ctr_b: np.ndarray,
    sims: int,
    sample_size: int,
    rng: np.random.Generator,
    chunk: int | None = None,
) -> np.ndarray:
    """Welch p-values of ``sims`` draws of ``sample_size`` users per group, computed chunk by chunk.

    Each chunk draws its group-a indices, then its group-b indices, from ``rng``.
    """
    chunk = chunk or max(1, CHUNK_CELLS // max(sample_size, 1))
    out = np.empty(sims, dtype=np.float64)
    for start in range(0, sims, chunk):
        rows = min(chunk, sims - start)
        sample_a = ctr_a[draw_indices(rng, len(ctr_a), sample_size, rows)]
        sample_b = ctr_b[draw_indices(rng, len(ctr_b), sample_size, rows)]
        out[start : start + rows] = welch_t(sample_a, sample_b, axis=1)[1]
    return out


@dataclass
class AAVerdict:
    """Whether the A/A check passes and, if not, why (reason codes; texts live in report.py)."""

    works: bool
    fpr_ok: bool
    uniform_ok: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class AAResult:
    groups: tuple[int, int]
    sims: int
    sample_size: int
    alpha: float
    seed: int | None
    fpr: float
    fpr_ci: tuple[float, float]
    uniformity_pvalue: float
    uniformity_statistic: float  # KS distance D of the p-values from U(0, 1)
    users: dict[int, int]  # users with views > 0 (the ones drawn from)
    zero_view_users: dict[int, int]  # left out of the draws
    verdict: AAVerdict
    pvalues: np.ndarray = field(repr=False)
    nan_pvalues: int = 0

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        from feedpulse.experiments.report import aa_verdict_text

        return {
            "fpr": self.fpr,
            "fpr_ci": [self.fpr_ci[0], self.fpr_ci[1]],
            "uniformity_pvalue": self.uniformity_pvalue,
            "uniformity_statistic": self.uniformity_statistic,
            "sims": self.sims,
            "verdict": {
                "works": self.verdict.works,
                "fpr_ok": self.verdict.fpr_ok,
                "uniform_ok": self.verdict.uniform_ok,
                "reasons": list(self.verdict.reasons),
                "text": aa_verdict_text(self, lang),
            },
            "groups": list(self.groups),
            "sample_size": self.sample_size,
            "alpha": self.alpha,
            "seed": self.seed,
            "users": {str(g): n for g, n in self.users.items()},
            "zero_view_users_excluded": {str(g): n for g, n in self.zero_view_users.items()},
        }


def _group_ctr(df: pd.DataFrame, group: int) -> tuple[np.ndarray, int]:
    rows = group_frame(df, group)
    ctr = per_user_ctr(rows)
    return ctr, len(rows) - len(ctr)


def aa_verdict(
    fpr: float,
    fpr_ci: tuple[float, float],
    uniformity_pvalue: float,
    uniformity_statistic: float,
    alpha: float,
    tolerance: float = FPR_TOLERANCE,
    uniformity_threshold: float = UNIFORMITY_THRESHOLD,
    max_deviation: float = UNIFORMITY_MAX_DEVIATION,
) -> AAVerdict:
    """Works ⇔ (the fpr CI contains alpha or fpr ≤ alpha + tolerance) and the p-values are uniform.

    Uniform: KS p-value > threshold, or a KS distance ≤ ``max_deviation``. The tolerance matters with
    10,000 simulations, where KS sees deviations of ~1.4 pp: drawing 500 of ~10,000 users without
    replacement shrinks the variance by the finite-population factor (1 − 500/10,000), which makes the
    t-test slightly conservative (fpr ≈ 4.4 %) and the p-values measurably — but harmlessly — non-uniform.
    """
    fpr_ok = fpr_ci[0] <= alpha <= fpr_ci[1] or fpr <= alpha + tolerance
    uniform_ok = bool(uniformity_pvalue > uniformity_threshold or uniformity_statistic <= max_deviation)
    reasons = []
    if not fpr_ok:
        reasons.append("fpr_high")
    if not uniform_ok:
        reasons.append("not_uniform")
    return AAVerdict(works=fpr_ok and uniform_ok, fpr_ok=fpr_ok, uniform_ok=uniform_ok, reasons=reasons)


def run_aa(
    df: pd.DataFrame,
    groups: Sequence[int] = (2, 3),
    sims: int = 10_000,
    sample_size: int = 500,
    alpha: float = 0.05,
    seed: int | None = None,
    chunk: int | None = None,
) -> AAResult:
    """Simulate ``sims`` A/A tests between two groups; see the module docstring."""
    if len(groups) != 2 or groups[0] == groups[1]:
        raise ExperimentDataError(f"an A/A test needs two different groups, got {list(groups)}")
    if sims < 1 or sample_size < 2:
        raise ExperimentDataError("sims must be ≥ 1 and sample_size ≥ 2")
    if not 0 < alpha < 1:
        raise ExperimentDataError(f"alpha must be in (0, 1), got {alpha}")
    df = validate(df)
    group_a, group_b = int(groups[0]), int(groups[1])
    ctr_a, zero_a = _group_ctr(df, group_a)
    ctr_b, zero_b = _group_ctr(df, group_b)
    for group, ctr in ((group_a, ctr_a), (group_b, ctr_b)):
        if len(ctr) < sample_size:
            raise ExperimentDataError(
                f"exp_group {group} has {len(ctr)} users with views > 0, fewer than sample_size={sample_size}"
            )
    pvalues = aa_pvalues(ctr_a, ctr_b, sims, sample_size, np.random.default_rng(seed), chunk)
    valid = pvalues[np.isfinite(pvalues)]
    if valid.size == 0:
        raise ExperimentDataError("every simulated t-test was undefined (zero variance of CTR in the samples)")
    positives = int((valid <= alpha).sum())
    ci = stats.binomtest(positives, valid.size).proportion_ci(confidence_level=0.95, method="wilson")
    fpr, fpr_ci = positives / valid.size, (float(ci.low), float(ci.high))
    ks = stats.kstest(valid, "uniform")
    uniformity, deviation = float(ks.pvalue), float(ks.statistic)
    return AAResult(
        groups=(group_a, group_b),
        sims=sims,
        sample_size=sample_size,
        alpha=alpha,
        seed=seed,
        fpr=fpr,
        fpr_ci=fpr_ci,
        uniformity_pvalue=uniformity,
        uniformity_statistic=deviation,
        users={group_a: len(ctr_a), group_b: len(ctr_b)},
        zero_view_users={group_a: zero_a, group_b: zero_b},
        verdict=aa_verdict(fpr, fpr_ci, uniformity, deviation, alpha),
        pvalues=pvalues,
        nan_pvalues=int(sims - valid.size),
    )
