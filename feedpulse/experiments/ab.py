"""A/B test of feed CTR: many tests on one data set, which of them agree, and a verdict.

Tests (statistic > 0 ⇔ treatment above control; every p-value two-sided):

* ``welch_t`` — Welch t-test on per-user CTR;
* ``mannwhitney`` — Mann–Whitney U on per-user CTR (statistic: U of the treatment sample);
* ``smoothed_ctr_t`` — Welch t-test on smoothed CTR ``(likes + α·CTR_c)/(views + α)``, where CTR_c is
  the global CTR (Σlikes/Σviews) of the *control* group for both groups;
* ``poisson_bootstrap`` — global CTR of each group under Poisson(1) user weights: percentile CIs per
  group, of the difference (treatment − control) and of the relative change;
* ``bucket_t`` / ``bucket_mannwhitney`` — users hashed into ``buckets`` buckets (md5 of
  ``"{user_id}-{salt}"``), bucket CTR = Σlikes/Σviews, Welch t and Mann–Whitney on bucket CTRs;
* ``linearized_likes_t`` — Welch t-test on ``likes − CTR_c·views``;
* ``views_t`` — guardrail: Welch t-test on views per user (and the relative change);
* ``srm_pvalue`` — chi-square test of the user counts against the expected split.

Users with 0 views have no CTR: they are dropped from every CTR test (and from the global CTRs)
but counted for the sample-ratio check and the views guardrail.

Polarization check (the trap where the mean barely moves but users split): two one-sided
two-sample KS tests on per-user CTR. A treatment that moves everyone the same way makes the
treatment distribution stochastically larger (or smaller), so only one of them fires; a polarising
treatment puts more users *both* below some CTR and above another, so both fire. The mean-normalised
spread (SD ratio, Brown–Forsythe/Levene) and the two-sided KS test are reported alongside.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from feedpulse.experiments.aa import TestStat, _finite, welch_test
from feedpulse.experiments.data import ExperimentDataError, group_frame, validate

CTR_TESTS: tuple[str, ...] = (
    "welch_t",
    "mannwhitney",
    "smoothed_ctr_t",
    "bucket_t",
    "bucket_mannwhitney",
    "linearized_likes_t",
    "poisson_bootstrap",
)
SRM_THRESHOLD = 0.001  # the usual, strict threshold: a sample-ratio mismatch invalidates the experiment
MIN_POLARIZED_SHARE = 0.02  # polarisation: ≥ 2 % of users moved down *and* ≥ 2 % moved up (KS distances)
CHUNK_CELLS = 4_000_000  # bootstrap weight-matrix cells per chunk
KS_EXACT_MAX = 10_000  # n_control · n_treatment up to which KS p-values are exact (asymptotic above)
POISSON_MAX = 16  # Poisson(1) weights are drawn by inverting the CDF up to this value (P(X > 16) ≈ 1e-15)
POISSON_DIRECT = 4  # CDF thresholds compared cell by cell; larger weights go through searchsorted

RECOMMEND_ROLL_OUT = "roll out"
RECOMMEND_NO = "do not roll out"
RECOMMEND_INCONCLUSIVE = "inconclusive"


@dataclass
class GroupData:
    """One group's per-user arrays: all users (SRM, guardrail) and users with views > 0 (CTR tests)."""

    users: int
    views_all: np.ndarray
    user_id: np.ndarray
    likes: np.ndarray
    views: np.ndarray

    @property
    def ctr(self) -> np.ndarray:
        return self.likes / self.views

    @property
    def global_ctr(self) -> float:
        return float(self.likes.sum() / self.views.sum())

    @property
    def zero_view_users(self) -> int:
        return self.users - len(self.views)


@dataclass
class BootstrapResult:
    control_ci: tuple[float, float]
    treatment_ci: tuple[float, float]
    diff_ci: tuple[float, float]
    relative_ci: tuple[float, float]
    pvalue: float  # two-sided: 2·min(P*(diff ≤ 0), P*(diff ≥ 0))
    resamples: int
    control: np.ndarray = field(repr=False)
    treatment: np.ndarray = field(repr=False)

    @property
    def diff(self) -> np.ndarray:
        return self.treatment - self.control

    def to_dict(self) -> dict[str, Any]:
        return {
            "control_ci": list(self.control_ci),
            "treatment_ci": list(self.treatment_ci),
            "diff_ci": list(self.diff_ci),
            "relative_ci": list(self.relative_ci),
            "pvalue": self.pvalue,
            "resamples": self.resamples,
        }


@dataclass
class PolarizationCheck:
    """Does the treatment spread users apart (some up, others down) rather than move them together?

    ``down``: one-sided KS, alternative "more treatment users at CTR ≤ x for some x" (users who lose);
    ``up``: alternative "more treatment users at CTR > y for some y" (users who gain). A shift of everyone in
    one direction makes only one of them significant; polarisation makes both.
    """

    flagged: bool
    spread_ratio: float  # SD of CTR/mean(CTR): treatment ÷ control
    levene: TestStat  # Brown–Forsythe (median-centred) on mean-normalised CTR
    ks: TestStat  # two-sided two-sample KS on per-user CTR
    down: TestStat  # statistic: max_x F_t(x) − F_c(x)
    up: TestStat  # statistic: max_y F_c(y) − F_t(y)
    low_cut: float  # x where the most extra treatment users sit at or below
    low_share: tuple[float, float]  # (control, treatment) share with CTR ≤ low_cut
    high_cut: float
    high_share: tuple[float, float]  # (control, treatment) share with CTR > high_cut

    def to_dict(self) -> dict[str, Any]:
        return {
            "flagged": self.flagged,
            "spread_ratio": _finite(self.spread_ratio),
            "levene": self.levene.to_dict(),
            "ks": self.ks.to_dict(),
            "ks_down": self.down.to_dict(),
            "ks_up": self.up.to_dict(),
            "low_cut": self.low_cut,
            "low_share": list(self.low_share),
            "high_cut": self.high_cut,
            "high_share": list(self.high_share),
        }


@dataclass
class ABVerdict:
    recommendation: str
    reason: str  # srm | polarization | ctr_up | ctr_down | guardrail | mixed | no_effect
    polarization: bool
    srm: bool
    effect: float  # relative change of global CTR
    effect_ci: tuple[float, float]
    agreeing_tests: list[str]
    disagreeing_tests: list[str]
    not_significant: list[str]
    guardrail_hit: bool

    @classmethod
    def pending(cls) -> ABVerdict:
        """Placeholder while the result is assembled (``decide`` needs the other fields)."""
        return cls(
            RECOMMEND_INCONCLUSIVE, "", False, False, float("nan"), (float("nan"), float("nan")), [], [], [], False
        )


@dataclass
class ABResult:
    control: int
    treatment: int
    alpha: float
    seed: int | None
    smoothing_alpha: float
    buckets: int
    users: tuple[int, int]  # all users (control, treatment)
    zero_view_users: tuple[int, int]
    ctr_control: float
    ctr_treatment: float
    tests: dict[str, TestStat]
    bootstrap: BootstrapResult
    srm_pvalue: float
    expected_split: tuple[float, float]
    views_change: float  # relative change of mean views per user
    polarization: PolarizationCheck
    verdict: ABVerdict
    ctr_control_users: np.ndarray = field(repr=False)
    ctr_treatment_users: np.ndarray = field(repr=False)
    buckets_used: tuple[int, int] = (0, 0)  # non-empty buckets (control, treatment)

    def direction(self, name: str) -> int:
        """+1 if the test sees treatment above control, −1 below, 0 undefined."""
        if name == "poisson_bootstrap":
            return int(np.sign(self.ctr_treatment - self.ctr_control))
        stat = self.tests[name].statistic
        if name in ("mannwhitney", "bucket_mannwhitney"):
            return int(np.sign(stat - self._mw_center(name)))
        return int(np.sign(stat)) if np.isfinite(stat) else 0

    def _mw_center(self, name: str) -> float:
        if name == "bucket_mannwhitney":
            return self.buckets_used[0] * self.buckets_used[1] / 2
        return len(self.ctr_control_users) * len(self.ctr_treatment_users) / 2

    def significant(self, name: str) -> bool:
        if name == "poisson_bootstrap":
            low, high = self.bootstrap.diff_ci
            return bool(low > 0 or high < 0)
        return self.tests[name].significant(self.alpha)

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON; the verdict's text in a language is added by :func:`report.result_json`."""
        out: dict[str, Any] = {
            name: self.tests[name].to_dict()
            for name in (
                "welch_t",
                "mannwhitney",
                "smoothed_ctr_t",
                "bucket_t",
                "bucket_mannwhitney",
                "linearized_likes_t",
                "views_t",
            )
        }
        verdict = self.verdict
        out.update(
            {
                "poisson_bootstrap": self.bootstrap.to_dict(),
                "srm_pvalue": self.srm_pvalue,
                "ctr_control": self.ctr_control,
                "ctr_treatment": self.ctr_treatment,
                "verdict": {
                    "recommendation": verdict.recommendation,
                    "reason": verdict.reason,
                    "polarization": verdict.polarization,
                    "srm": verdict.srm,
                    "effect": verdict.effect,
                    "effect_ci": list(verdict.effect_ci),
                    "agreeing_tests": list(verdict.agreeing_tests),
                    "disagreeing_tests": list(verdict.disagreeing_tests),
                    "not_significant": list(verdict.not_significant),
                    "guardrail_hit": verdict.guardrail_hit,
                },
                "control": self.control,
                "treatment": self.treatment,
                "alpha": self.alpha,
                "seed": self.seed,
                "users": {"control": self.users[0], "treatment": self.users[1]},
                "zero_view_users_excluded_from_ctr": {
                    "control": self.zero_view_users[0],
                    "treatment": self.zero_view_users[1],
                },
                "views_change": self.views_change,
                "polarization": self.polarization.to_dict(),
                "smoothing_alpha": self.smoothing_alpha,
                "buckets": self.buckets,
            }
        )
        return out


# --- building blocks -------------------------------------------------------------------------------------------


def group_data(df: pd.DataFrame, group: int) -> GroupData:
    rows = group_frame(df, group)
    viewed = rows[rows["views"] > 0]
    if len(viewed) < 2:
        raise ExperimentDataError(f"exp_group {group} has {len(viewed)} user(s) with views > 0; need at least 2")
    return GroupData(
        users=len(rows),
        views_all=rows["views"].to_numpy(np.float64),
        user_id=viewed["user_id"].to_numpy(),
        likes=viewed["likes"].to_numpy(np.float64),
        views=viewed["views"].to_numpy(np.float64),
    )


def mannwhitney(treatment: np.ndarray, control: np.ndarray) -> TestStat:
    result = stats.mannwhitneyu(treatment, control, alternative="two-sided")
    return TestStat(float(result.statistic), float(result.pvalue))


def smoothed_ctr(likes: np.ndarray, views: np.ndarray, prior_ctr: float, smoothing_alpha: float) -> np.ndarray:
    return (likes + smoothing_alpha * prior_ctr) / (views + smoothing_alpha)


def linearized_likes(likes: np.ndarray, views: np.ndarray, ctr_control: float) -> np.ndarray:
    return likes - ctr_control * views


def bucket_ids(user_ids: np.ndarray, buckets: int, salt: str) -> np.ndarray:
    """Stable bucket of each user: int(md5("{user_id}-{salt}")) % buckets (same across runs and machines)."""
    if buckets < 2:
        raise ExperimentDataError(f"buckets must be ≥ 2, got {buckets}")
    digests = (hashlib.md5(f"{uid}-{salt}".encode()).digest() for uid in user_ids.tolist())
    return np.fromiter((int.from_bytes(d, "big") % buckets for d in digests), dtype=np.int64, count=len(user_ids))


def bucket_ctr(likes: np.ndarray, views: np.ndarray, bucket: np.ndarray, buckets: int) -> np.ndarray:
    """Σlikes/Σviews per bucket (buckets without views left out)."""
    sum_likes = np.bincount(bucket, weights=likes, minlength=buckets)
    sum_views = np.bincount(bucket, weights=views, minlength=buckets)
    filled = sum_views > 0
    return sum_likes[filled] / sum_views[filled]


def poisson_weights(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Poisson(1) weights by inverting the CDF of float32 uniforms (exact to ~1e-7, ~5x faster than rng.poisson).

    weight = #{k : u > F(k)}: four vectorised comparisons cover 98 % of the cells, the rare tail
    (u > F(3)) is looked up with ``searchsorted``.
    """
    cdf = stats.poisson.cdf(np.arange(POISSON_MAX), 1.0).astype(np.float32)
    u = rng.random(shape, dtype=np.float32)
    weights = (u > cdf[0]).astype(np.float32)
    for threshold in cdf[1:POISSON_DIRECT]:
        weights += u > threshold
    tail = np.flatnonzero(u > cdf[POISSON_DIRECT - 1])
    weights.flat[tail] = np.searchsorted(cdf, u.flat[tail])
    return weights


def bootstrap_ctr(likes: np.ndarray, views: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Global CTR Σw·likes/Σw·views under ``resamples`` Poisson(1) weight vectors, chunked to bound memory."""
    data = np.column_stack([likes, views]).astype(np.float64)
    chunk = max(1, CHUNK_CELLS // max(len(likes), 1))
    out = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        sums = poisson_weights(rng, (rows, len(likes))).astype(np.float64) @ data
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + rows] = sums[:, 0] / sums[:, 1]
    return out


def poisson_bootstrap(
    control: GroupData, treatment: GroupData, resamples: int, alpha: float, rng: np.random.Generator
) -> BootstrapResult:
    if resamples < 10:
        raise ExperimentDataError(f"bootstrap needs at least 10 resamples, got {resamples}")
    boot_c = bootstrap_ctr(control.likes, control.views, resamples, rng)
    boot_t = bootstrap_ctr(treatment.likes, treatment.views, resamples, rng)
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    diff = boot_t - boot_c
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = boot_t / boot_c - 1
    pvalue = min(1.0, 2 * min(float(np.mean(diff <= 0)), float(np.mean(diff >= 0))))
    return BootstrapResult(
        control_ci=_ci(boot_c, q),
        treatment_ci=_ci(boot_t, q),
        diff_ci=_ci(diff, q),
        relative_ci=_ci(relative, q),
        pvalue=pvalue,
        resamples=resamples,
        control=boot_c,
        treatment=boot_t,
    )


def _ci(values: np.ndarray, percentiles: list[float]) -> tuple[float, float]:
    low, high = np.nanpercentile(values, percentiles)
    return float(low), float(high)


def srm_pvalue(n_control: int, n_treatment: int, expected_split: tuple[float, float] = (1.0, 1.0)) -> float:
    """Chi-square goodness of fit of the user counts against the expected split (default 50/50)."""
    total = n_control + n_treatment
    weights = np.asarray(expected_split, dtype=np.float64)
    if weights.shape != (2,) or np.any(weights <= 0):
        raise ExperimentDataError(f"expected_split must be two positive numbers, got {expected_split}")
    expected = total * weights / weights.sum()
    return float(stats.chisquare([n_control, n_treatment], f_exp=expected).pvalue)


def _ecdf(sorted_values: np.ndarray, x: float) -> float:
    return float(np.searchsorted(sorted_values, x, side="right") / len(sorted_values))


def polarization_check(
    ctr_c: np.ndarray, ctr_t: np.ndarray, alpha: float, min_shift: float = MIN_POLARIZED_SHARE
) -> PolarizationCheck:
    """Flag a treatment that moves users both ways: both one-sided KS tests significant, each by ≥ ``min_shift``."""
    mean_c, mean_t = ctr_c.mean(), ctr_t.mean()
    norm_c = ctr_c / mean_c if mean_c > 0 else ctr_c
    norm_t = ctr_t / mean_t if mean_t > 0 else ctr_t
    sd_c = norm_c.std(ddof=1)
    spread_ratio = float(norm_t.std(ddof=1) / sd_c) if sd_c > 0 else float("nan")
    levene = stats.levene(norm_t, norm_c, center="median")
    method = "exact" if len(ctr_c) * len(ctr_t) <= KS_EXACT_MAX else "asymp"
    ks = stats.ks_2samp(ctr_t, ctr_c, method=method)
    down = stats.ks_2samp(ctr_t, ctr_c, alternative="greater", method=method)
    up = stats.ks_2samp(ctr_t, ctr_c, alternative="less", method=method)
    sorted_c, sorted_t = np.sort(ctr_c), np.sort(ctr_t)
    low_cut, high_cut = float(down.statistic_location), float(up.statistic_location)
    low_share = (_ecdf(sorted_c, low_cut), _ecdf(sorted_t, low_cut))
    high_share = (1 - _ecdf(sorted_c, high_cut), 1 - _ecdf(sorted_t, high_cut))
    flagged = bool(
        down.pvalue <= alpha and up.pvalue <= alpha and down.statistic >= min_shift and up.statistic >= min_shift
    )
    return PolarizationCheck(
        flagged=flagged,
        spread_ratio=spread_ratio,
        levene=TestStat(float(levene.statistic), float(levene.pvalue)),
        ks=TestStat(float(ks.statistic), float(ks.pvalue)),
        down=TestStat(float(down.statistic), float(down.pvalue)),
        up=TestStat(float(up.statistic), float(up.pvalue)),
        low_cut=low_cut,
        low_share=low_share,
        high_cut=high_cut,
        high_share=high_share,
    )


def decide(result: ABResult, srm_threshold: float = SRM_THRESHOLD) -> ABVerdict:
    """Which CTR tests agree with the direction of the global CTR change, and the recommendation."""
    main = int(np.sign(result.ctr_treatment - result.ctr_control))
    agreeing, disagreeing, quiet = [], [], []
    for name in CTR_TESTS:
        if not result.significant(name):
            quiet.append(name)
        elif result.direction(name) == main and main != 0:
            agreeing.append(name)
        else:
            disagreeing.append(name)
    views = result.tests["views_t"]
    guardrail_hit = views.significant(result.alpha) and result.views_change < 0
    srm = result.srm_pvalue < srm_threshold
    primary_up = all(n in agreeing for n in ("poisson_bootstrap", "linearized_likes_t")) and main > 0
    primary_down = all(n in agreeing for n in ("poisson_bootstrap", "linearized_likes_t")) and main < 0
    primary_any = result.significant("poisson_bootstrap") or result.significant("linearized_likes_t")
    if srm:
        recommendation, reason = RECOMMEND_INCONCLUSIVE, "srm"
    elif result.polarization.flagged:
        recommendation, reason = RECOMMEND_NO, "polarization"
    elif primary_up and guardrail_hit:
        recommendation, reason = RECOMMEND_INCONCLUSIVE, "guardrail"
    elif primary_up:
        recommendation, reason = RECOMMEND_ROLL_OUT, "ctr_up"
    elif primary_down:
        recommendation, reason = RECOMMEND_NO, "ctr_down"
    elif primary_any or agreeing or disagreeing:
        recommendation, reason = RECOMMEND_INCONCLUSIVE, "mixed"
    else:
        recommendation, reason = RECOMMEND_INCONCLUSIVE, "no_effect"
    effect = result.ctr_treatment / result.ctr_control - 1 if result.ctr_control > 0 else float("nan")
    return ABVerdict(
        recommendation=recommendation,
        reason=reason,
        polarization=result.polarization.flagged,
        srm=srm,
        effect=float(effect),
        effect_ci=result.bootstrap.relative_ci,
        agreeing_tests=agreeing,
        disagreeing_tests=disagreeing,
        not_significant=quiet,
        guardrail_hit=bool(guardrail_hit),
    )


# --- the whole analysis ----------------------------------------------------------------------------------------


def run_ab(
    df: pd.DataFrame,
    control: int = 0,
    treatment: int = 1,
    alpha: float = 0.05,
    smoothing_alpha: float = 5,
    bootstrap: int = 2000,
    buckets: int = 50,
    seed: int | None = None,
    salt: str = "feedpulse",
    expected_split: tuple[float, float] = (1.0, 1.0),
) -> ABResult:
    """Run every A/B test of the module docstring on ``df`` and decide; see :class:`ABResult`."""
    if control == treatment:
        raise ExperimentDataError(f"control and treatment must differ, both are {control}")
    if not 0 < alpha < 1:
        raise ExperimentDataError(f"alpha must be in (0, 1), got {alpha}")
    if smoothing_alpha < 0:
        raise ExperimentDataError(f"smoothing_alpha must be ≥ 0, got {smoothing_alpha}")
    df = validate(df)
    data_c, data_t = group_data(df, int(control)), group_data(df, int(treatment))
    ctr_c, ctr_t = data_c.global_ctr, data_t.global_ctr
    rng = np.random.default_rng(seed)
    tests, buckets_used = _tests(data_c, data_t, ctr_c, smoothing_alpha, buckets, salt)
    boot = poisson_bootstrap(data_c, data_t, bootstrap, alpha, rng)
    mean_views_c = data_c.views_all.mean()
    result = ABResult(
        control=int(control),
        treatment=int(treatment),
        alpha=alpha,
        seed=seed,
        smoothing_alpha=smoothing_alpha,
        buckets=buckets,
        users=(data_c.users, data_t.users),
        zero_view_users=(data_c.zero_view_users, data_t.zero_view_users),
        ctr_control=ctr_c,
        ctr_treatment=ctr_t,
        tests=tests,
        bootstrap=boot,
        srm_pvalue=srm_pvalue(data_c.users, data_t.users, expected_split),
        expected_split=expected_split,
        views_change=float(data_t.views_all.mean() / mean_views_c - 1) if mean_views_c > 0 else float("nan"),
        polarization=polarization_check(data_c.ctr, data_t.ctr, alpha),
        verdict=ABVerdict.pending(),
        ctr_control_users=data_c.ctr,
        ctr_treatment_users=data_t.ctr,
        buckets_used=buckets_used,
    )
    result.verdict = decide(result)
    return result


def _tests(
    data_c: GroupData, data_t: GroupData, ctr_c: float, smoothing_alpha: float, buckets: int, salt: str
) -> tuple[dict[str, TestStat], tuple[int, int]]:
    bucket_c = bucket_ctr(data_c.likes, data_c.views, bucket_ids(data_c.user_id, buckets, salt), buckets)
    bucket_t = bucket_ctr(data_t.likes, data_t.views, bucket_ids(data_t.user_id, buckets, salt), buckets)
    smooth_c = smoothed_ctr(data_c.likes, data_c.views, ctr_c, smoothing_alpha)
    smooth_t = smoothed_ctr(data_t.likes, data_t.views, ctr_c, smoothing_alpha)
    tests = {
        "welch_t": welch_test(data_t.ctr, data_c.ctr),
        "mannwhitney": mannwhitney(data_t.ctr, data_c.ctr),
        "smoothed_ctr_t": welch_test(smooth_t, smooth_c),
        "bucket_t": welch_test(bucket_t, bucket_c),
        "bucket_mannwhitney": mannwhitney(bucket_t, bucket_c),
        "linearized_likes_t": welch_test(
            linearized_likes(data_t.likes, data_t.views, ctr_c), linearized_likes(data_c.likes, data_c.views, ctr_c)
        ),
        "views_t": welch_test(data_t.views_all, data_c.views_all),
    }
    return tests, (len(bucket_c), len(bucket_t))
