"""A/A test: does the split system (and the Welch t-test on per-user CTR) keep its false positive rate?

``run_aa`` draws ``sample_size`` users per group without replacement ``sims`` times, runs a Welch
t-test on per-user CTR for every draw, and reports the course's figures: the share of p ≤ alpha (the
false positive rate) with a Wilson confidence interval, and how uniform the p-values are
(Kolmogorov–Smirnov). Everything is vectorised: a chunk of draws is one index matrix, and the
t statistics and p-values of a chunk are computed on arrays (no per-simulation ``ttest_ind``).

The verdict is calibrated, not read off fixed tolerances: those figures depend on the population
(finite-population effect, the population gap a fair split leaves), so the fpr, the p-values' KS
distance, the full-group difference of mean user CTR and the groups' CTR distributions are placed
among fair random re-splits of the same users (:mod:`.resplit`); the combined p-value and a χ²
sample-ratio check give "works", "borderline" or "broken" (:func:`calibrated_verdict`). The false
"broken" rate and the power of the rule are measured by ``feedpulse experiment aa-calibrate``
(BENCHMARKS.md).

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
from feedpulse.experiments.resplit import STATISTICS, reference

CHUNK_CELLS = 4_000_000  # index-matrix cells per chunk (bounds memory: ~32 MB of int64 per group)


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


STATUSES: tuple[str, ...] = ("works", "borderline", "broken")
BROKEN_BELOW = 0.01  # calibrated p-value below this ⇒ "broken" (≈ 1 % of fair splits)
BORDERLINE_BELOW = 0.05  # ... below this ⇒ "borderline" (≈ 4 % more of fair splits)
RESPLITS = 2000  # fair re-splits of the pooled users in the reference distribution
REASON_BY_STATISTIC = {
    "fpr": "fpr_high",
    "pvalue_ks": "not_uniform",
    "mean_diff": "groups_differ",
    "distribution_ks": "distributions_differ",
}


@dataclass
class AAVerdict:
    """The calibrated verdict ("works" / "borderline" / "broken") and why (reason codes; texts in report.py).

    ``works`` is True only for "works". ``fpr_ok`` / ``uniform_ok``: the fpr / the p-values' KS distance are
    not beyond what ``BROKEN_BELOW`` of fair re-splits give.
    """

    status: str
    works: bool
    fpr_ok: bool
    uniform_ok: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class AACalibration:
    """Where the observed statistics fall among fair re-splits of the same users, and the sample-ratio check."""

    resplits: int
    observed: dict[str, float]  # fpr, pvalue_ks (on a p grid), mean_diff (|Welch t|), distribution_ks
    pvalues: dict[str, float]  # per statistic: share of re-splits at least as extreme
    percentiles: dict[str, float]  # per statistic: share of re-splits below (0–100)
    ranges: dict[str, list[float]]  # per statistic: 2.5 %, 50 %, 97.5 % of the re-splits
    split_pvalue: float  # min-p over the statistics, calibrated on the re-splits
    srm_pvalue: float  # χ² of the group sizes (all users) against 1:1
    pvalue: float  # the verdict's p-value: Bonferroni of split_pvalue and srm_pvalue
    mean_ctr: dict[int, float]  # full groups: mean user CTR
    mean_diff: float  # mean user CTR a − b (full groups)
    mean_diff_ci: tuple[float, float]  # Welch 95 % CI of the difference
    welch_t: float  # full groups: Welch t of the difference

    def to_dict(self) -> dict[str, Any]:
        return {
            "resplits": self.resplits,
            "pvalue": self.pvalue,
            "split_pvalue": self.split_pvalue,
            "srm_pvalue": self.srm_pvalue,
            "statistics": {
                name: {
                    "observed": self.observed[name],
                    "pvalue": self.pvalues[name],
                    "percentile": self.percentiles[name],
                    "fair_split_range": self.ranges[name],
                }
                for name in STATISTICS
            },
        }


def calibrated_verdict(calibration: AACalibration) -> AAVerdict:
    """ "broken" below ``BROKEN_BELOW``, "borderline" below ``BORDERLINE_BELOW``, else "works".

    Reasons: the statistics (and the sample ratio) with a p-value below ``BORDERLINE_BELOW``, most extreme first.
    """
    p = calibration.pvalue
    status = "broken" if p < BROKEN_BELOW else "borderline" if p < BORDERLINE_BELOW else "works"
    candidates = [(calibration.pvalues[name], REASON_BY_STATISTIC[name]) for name in STATISTICS]
    candidates.append((calibration.srm_pvalue, "srm"))
    reasons = [code for value, code in sorted(candidates) if value < BORDERLINE_BELOW]
    if status != "works" and not reasons:  # a combination of moderate deviations
        reasons = [min(candidates)[1]]
    return AAVerdict(
        status=status,
        works=status == "works",
        fpr_ok=calibration.pvalues["fpr"] >= BROKEN_BELOW,
        uniform_ok=calibration.pvalues["pvalue_ks"] >= BROKEN_BELOW,
        reasons=reasons if status != "works" else [],
    )


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
    calibration: AACalibration
    pvalues: np.ndarray = field(repr=False)
    nan_pvalues: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON; the verdict's text in a language is added by :func:`report.result_json`."""
        cal = self.calibration
        return {
            "fpr": self.fpr,
            "fpr_ci": [self.fpr_ci[0], self.fpr_ci[1]],
            "uniformity_pvalue": self.uniformity_pvalue,
            "uniformity_statistic": self.uniformity_statistic,
            "sims": self.sims,
            "verdict": {
                "status": self.verdict.status,
                "works": self.verdict.works,
                "fpr_ok": self.verdict.fpr_ok,
                "uniform_ok": self.verdict.uniform_ok,
                "reasons": list(self.verdict.reasons),
            },
            "calibrated_pvalue": cal.pvalue,
            "calibration": cal.to_dict(),
            "full_group": {
                "mean_ctr": {str(g): v for g, v in cal.mean_ctr.items()},
                "difference": cal.mean_diff,
                "difference_ci": [cal.mean_diff_ci[0], cal.mean_diff_ci[1]],
                "welch_t": cal.welch_t,
                "fair_split_pvalue": cal.pvalues["mean_diff"],
            },
            "srm_pvalue": cal.srm_pvalue,
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


def _srm_pvalue(rows_a: int, rows_b: int) -> float:
    """χ² test of the two groups' sizes against an equal split (all users, with and without views)."""
    return float(stats.chisquare([rows_a, rows_b]).pvalue)


def calibrate(
    ctr_a: np.ndarray,
    ctr_b: np.ndarray,
    pvalues: np.ndarray,
    sample_size: int,
    alpha: float,
    groups: tuple[int, int],
    rows: tuple[int, int],
    resplits: int,
    rng: np.random.Generator,
) -> AACalibration:
    """Place the observed statistics among ``resplits`` fair re-splits of the pooled users (see :mod:`.resplit`)."""
    ref = reference(ctr_a, ctr_b, pvalues, sample_size, alpha, resplits, rng)
    pvals = {name: ref.pvalue(name) for name in STATISTICS}
    split_p = ref.combined_pvalue()
    srm_p = _srm_pvalue(*rows)
    full = welch_test(ctr_a, ctr_b)
    diff = float(ctr_a.mean() - ctr_b.mean())
    se = diff / full.statistic if full.statistic else float("nan")
    return AACalibration(
        resplits=resplits,
        observed=ref.observed,
        pvalues=pvals,
        percentiles={name: ref.percentile(name) for name in STATISTICS},
        ranges={name: ref.quantiles(name) for name in STATISTICS},
        split_pvalue=split_p,
        srm_pvalue=srm_p,
        pvalue=min(1.0, 2 * min(split_p, srm_p)),
        mean_ctr={groups[0]: float(ctr_a.mean()), groups[1]: float(ctr_b.mean())},
        mean_diff=diff,
        mean_diff_ci=(diff - 1.96 * abs(se), diff + 1.96 * abs(se)),
        welch_t=full.statistic,
    )


def run_aa(
    df: pd.DataFrame,
    groups: Sequence[int] = (2, 3),
    sims: int = 10_000,
    sample_size: int = 500,
    alpha: float = 0.05,
    seed: int | None = None,
    chunk: int | None = None,
    resplits: int = RESPLITS,
) -> AAResult:
    """Simulate ``sims`` A/A tests between two groups; see the module docstring."""
    if len(groups) != 2 or groups[0] == groups[1]:
        raise ExperimentDataError(f"an A/A test needs two different groups, got {list(groups)}")
    if sims < 1 or sample_size < 2:
        raise ExperimentDataError("sims must be ≥ 1 and sample_size ≥ 2")
    if not 0 < alpha < 1:
        raise ExperimentDataError(f"alpha must be in (0, 1), got {alpha}")
    if resplits < 1:
        raise ExperimentDataError(f"resplits must be ≥ 1, got {resplits}")
    df = validate(df)
    group_a, group_b = int(groups[0]), int(groups[1])
    ctr_a, zero_a = _group_ctr(df, group_a)
    ctr_b, zero_b = _group_ctr(df, group_b)
    for group, ctr in ((group_a, ctr_a), (group_b, ctr_b)):
        if len(ctr) < sample_size:
            raise ExperimentDataError(
                f"exp_group {group} has {len(ctr)} users with views > 0, fewer than sample_size={sample_size}"
            )
    rng = np.random.default_rng(seed)
    pvalues = aa_pvalues(ctr_a, ctr_b, sims, sample_size, rng, chunk)
    valid = pvalues[np.isfinite(pvalues)]
    if valid.size == 0:
        raise ExperimentDataError("every simulated t-test was undefined (zero variance of CTR in the samples)")
    positives = int((valid <= alpha).sum())
    ci = stats.binomtest(positives, valid.size).proportion_ci(confidence_level=0.95, method="wilson")
    fpr, fpr_ci = positives / valid.size, (float(ci.low), float(ci.high))
    ks = stats.kstest(valid, "uniform")
    uniformity, deviation = float(ks.pvalue), float(ks.statistic)
    rows = (len(ctr_a) + zero_a, len(ctr_b) + zero_b)
    calibration = calibrate(ctr_a, ctr_b, valid, sample_size, alpha, (group_a, group_b), rows, resplits, rng)
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
        verdict=calibrated_verdict(calibration),
        calibration=calibration,
        pvalues=pvalues,
        nan_pvalues=int(sims - valid.size),
    )
