"""The root-cause ceiling: the best top-1 / top-3 hit rates any explainer could reach on the harness's plants.

The explainer (:mod:`feedpulse.alerts.explain`) has to estimate what each segment *should* have shown
from earlier days. The ceiling is told what no explainer can know: each candidate segment's true
expectation and noise in the judged bucket, and how the harness draws its plants. With that it
computes, for the observed bucket, the posterior probability that each candidate segment was planted,
and answers with the segments most likely to be hit. Up to the approximations listed at the end, no
rule can do better on average, so a hit rate the ceiling does not reach is out of reach for the data,
not for the explainer (issue 17: "if a target proves impossible against the limit, show it with the
limit's numbers").

**What it knows.** ``replicas`` clean runs of the judged day with the seed's population and other noise
seeds (the limit detector's method, :func:`feedpulse.alerts.evaluate.limit_replicas`): per candidate
segment S the mean μ_S of its count in the bucket, the mean μ_R of the rest of the bucket, and S's
dispersion φ_S around its share (:func:`fit_truth`; shrunk towards the metric's pooled dispersion by
:data:`SHRINK` pseudo-replicas: 30 replicas estimate one segment's variance to ±26 %). And the harness's
prior (:mod:`feedpulse.alerts.rootcause`): the slot's pool of candidates (singles or pairs, share 5–60 %),
uniform; a magnitude uniform in 20–80 %; a drop or, for event metrics, a spike with equal odds.

**Likelihood.** Every user lies in one cell and users are independent given the day, so under "S was
planted with change c" only S's cells differ from a clean bucket: the rest R of the bucket is alike under
every hypothesis that leaves it alone, and the evidence for S is the ratio of the likelihoods of O_S given
O_R. The rest is needed: a day's activity has a factor shared by all its users (the simulator's
``day_noise``, ±3 %) and the rest measures it; μ_S alone would see every segment moved by it. (At the
simulator's ±3 % this changes no answer on seeds 7 and 42 — BENCHMARKS.md — but it is exact under the
model and matters when days differ more.) The factor f has mean 1 and the variance the replicas' totals
show beyond their own noise; given the rest, f is normal with the precision-weighted mean of 1 and
O_R / μ_R (variance φ/μ_R) — the prior matters: with f left free, a drop in iOS would read as "the day
fell by half and Android rose". Given f, S's count is normal with the plant's mean and variance: events
are dropped with probability −c (kept: p = 1 + c) or each copied once more with probability c, over a
base count of mean μ = f·μ_S and variance φμ, so

    drop:  mean p·μ,      variance p²·φμ + p(1−p)·μ
    spike: mean (1+c)·μ,  variance (1+c)²·φμ + c(1−c)·μ

(``feed_users`` drops drop users, the same form with users as the units), plus the errors of f (its
variance given the rest) and of μ_S itself (φμ_S/R). The magnitude is integrated over its prior on a
grid (:data:`MAGNITUDE_GRID` points).

**Answer.** A single segment is a hit when it or a pair inside it was planted; a pair only when it was.
The top-1 answer is the segment with the largest posterior probability of a hit; the top-3 answers are
chosen greedily, each covering the most posterior mass the ones before it left uncovered.

Approximations (each can only lower the ceiling, never raise it above the true optimum on average):
the normal likelihood of a count, the segment total instead of its cells, μ and φ from finitely many
replicas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

Segment = tuple[tuple[str, str], ...]

FACTOR_VARIANCE_FLOOR = 1e-6  # a shared factor measured as none is taken as ±0.1 %
SHRINK = 10.0  # pseudo-replicas of the metric's pooled dispersion in each segment's dispersion
MAGNITUDE_GRID = 25


def segment_totals(cells: pd.DataFrame, metric: str, segments: Sequence[Segment]) -> np.ndarray:
    """Each segment's total of ``metric`` in ``cells`` (0 for a segment with no cell)."""
    sums: dict[tuple[str, ...], pd.Series] = {}
    out = np.zeros(len(segments))
    for i, segment in enumerate(segments):
        dims = tuple(d for d, _ in segment)
        if dims not in sums:
            sums[dims] = cells.groupby(list(dims))[metric].sum() if len(cells) else pd.Series(dtype=float)
        key = segment[0][1] if len(segment) == 1 else tuple(v for _, v in segment)
        out[i] = float(sums[dims].get(key, 0.0))
    return out


@dataclass(frozen=True)
class SegmentTruth:
    """What the ceiling knows of the candidate segments in one bucket: the mean of each segment's count and
    of the rest of the bucket's, and the segment's dispersion around its true share (see :func:`fit_truth`)."""

    segments: tuple[Segment, ...]
    mean: np.ndarray
    rest: np.ndarray
    dispersion: np.ndarray
    replicas: int
    factor_variance: float  # of the day's shared factor f (mean 1) over the replicas
    ratio: np.ndarray | None = None  # μ_S / μ of the covariate in S, when the expectation comes from one


def fit_truth(
    replica_totals: np.ndarray,
    replica_bucket: np.ndarray,
    segments: Sequence[Segment],
    replica_covariate: np.ndarray | None = None,
) -> SegmentTruth:
    """``replica_totals``: one row per clean replica, one column per segment (:func:`segment_totals`);
    ``replica_bucket``: each replica's total of the whole bucket; ``replica_covariate``: the same segments'
    totals of a count the plant leaves alone (see :func:`log_evidence`), or None.

    With a covariate C, S's count is expected at r_S·C_S (r_S = μ_S / μ_C over the replicas), and φ_S is
    the variance of O_S − r_S·C_S over μ_S: what is left of S's noise once its covariate is known.

    The dispersion is measured around the segment's share of each replica's own rest of the bucket: a day's
    activity has a factor shared by all users (the simulator's ``day_noise``), which moves every segment
    alike and is no part of a segment's own noise. With O_S − (μ_S/μ_R)·O_R of variance φ·μ_S·(1 + μ_S/μ_R)
    (the rest's noise counted at the same dispersion), φ = its variance / (μ_S·(1 + μ_S/μ_R))."""
    values = np.asarray(replica_totals, dtype=float)
    totals = np.asarray(replica_bucket, dtype=float)
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] != len(segments) or totals.shape != values.shape[:1]:
        raise ValueError(f"need ≥ 2 replicas × {len(segments)} segments and one bucket total per replica, got "
                         f"{values.shape} and {totals.shape}")  # fmt: skip
    replicas = values.shape[0]
    if replica_covariate is not None:
        return _fit_on_covariate(values, np.asarray(replica_covariate, dtype=float), segments)
    rests = totals[:, None] - values
    mean, rest = values.mean(axis=0), rests.mean(axis=0)
    ok = (mean > 0) & (rest > 0)
    ratio = np.where(ok, mean / np.where(rest > 0, rest, 1.0), 0.0)
    spread = (values - ratio * rests).var(axis=0, ddof=1)
    scale = np.where(ok, mean * (1 + ratio), 1.0)
    dispersion, pooled = _shrunk(spread, scale, ok, replicas)
    # the shared factor's variance: the replicas' totals scatter by it and by the counts' own noise
    average = float(totals.mean())
    factor_variance = float(np.var(totals / average, ddof=1)) - pooled / average if average > 0 else 0.0
    return SegmentTruth(tuple(segments), mean, rest, dispersion, replicas, max(factor_variance, FACTOR_VARIANCE_FLOOR))


def _shrunk(spread: np.ndarray, scale: np.ndarray, ok: np.ndarray, replicas: int) -> tuple[np.ndarray, float]:
    """Each segment's dispersion (``spread / scale``) shrunk towards the pooled one by :data:`SHRINK`
    pseudo-replicas, and the pooled one."""
    pooled = float(spread[ok].sum() / scale[ok].sum()) if ok.any() else 1.0
    own = np.where(ok, spread / np.where(ok, scale, 1.0), pooled)
    return np.maximum(((replicas - 1) * own + SHRINK * pooled) / (replicas - 1 + SHRINK), 1e-3), pooled


def _fit_on_covariate(values: np.ndarray, covariate: np.ndarray, segments: Sequence[Segment]) -> SegmentTruth:
    if covariate.shape != values.shape:
        raise ValueError(f"the covariate's replicas have shape {covariate.shape}, the counts' {values.shape}")
    replicas = values.shape[0]
    mean, base = values.mean(axis=0), covariate.mean(axis=0)
    ok = (mean > 0) & (base > 0)
    ratio = np.where(ok, mean / np.where(base > 0, base, 1.0), 0.0)
    spread = (values - ratio * covariate).var(axis=0, ddof=1)
    scale = np.where(ok, mean, 1.0)
    dispersion, _ = _shrunk(spread, scale, ok, replicas)
    return SegmentTruth(tuple(segments), mean, np.zeros_like(mean), dispersion, replicas, FACTOR_VARIANCE_FLOOR,
                        ratio)  # fmt: skip


def _log_normal(x: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    return -0.5 * (np.log(2 * np.pi * variance) + (x - mean) ** 2 / variance)


def log_evidence(
    observed: np.ndarray,
    bucket: float,
    truth: SegmentTruth,
    signs: Sequence[int],
    magnitudes: tuple[float, float],
    covariate: np.ndarray | None = None,
) -> np.ndarray:
    """log of P(O_S | O_R, S planted) / P(O_S | O_R, clean) per segment — the likelihood ratio of the whole
    bucket, since a plant in S leaves the rest R = bucket − S as it was. The rest tells the day's shared
    factor f = O_R / μ_R; given it S is expected at f·μ_S (clean) or f·(1+c)·μ_S (planted), its variance
    the plant's (module doc) plus f's own error (φ/μ_R) and μ's (φμ_S/R). The change's sign is uniform
    over ``signs`` (−1 drop, +1 spike), its size uniform in ``magnitudes`` (the harness's range).

    With a covariate (``truth.ratio`` set; ``covariate``: its observed totals in the segments) — a count
    of S the plant leaves alone: the views of a likes plant, the users of a views plant (a drop removes
    only users all of whose views in the bucket it drops) — S is expected at r_S·C_S instead: the ratio
    P(O_S | C_S, S planted) / P(O_S | C_S, clean). C_S carries S's own share of the day's factor and of its
    users' activity, so what is left is the per-user noise of the count itself."""
    x = np.asarray(observed, dtype=float)[:, None]
    phi = truth.dispersion[:, None]
    if truth.ratio is not None:
        if covariate is None:
            raise ValueError("this truth was fitted on a covariate: pass its observed totals")
        ok = (truth.mean > 0) & (truth.ratio > 0)
        mu = np.maximum(truth.ratio * np.asarray(covariate, dtype=float), 1e-9)[:, None]
        base = phi * mu / truth.replicas  # r's error
    else:
        rest_seen = np.maximum(float(bucket) - x, 0.0)
        ok = (truth.mean > 0) & (truth.rest > 0)
        mu_rest = np.where(ok, truth.rest, 1.0)[:, None]
        # f given the rest: its prior (mean 1, the replicas' variance) and O_R / μ_R (variance φ / μ_R)
        precision = 1 / truth.factor_variance + mu_rest / phi
        factor = (1 / truth.factor_variance + rest_seen / phi) / precision
        mu = np.maximum(truth.mean, 1e-9)[:, None] * factor
        base = np.maximum(truth.mean, 1e-9)[:, None] ** 2 / precision + phi * mu / truth.replicas  # f's, μ's errors

    def variance(kept: np.ndarray, extra: np.ndarray) -> np.ndarray:
        return kept**2 * phi * mu + extra * mu + kept**2 * base

    clean = _log_normal(x, mu, variance(np.ones(1), np.zeros(1)))
    grid = np.linspace(*magnitudes, MAGNITUDE_GRID)[None, :]
    parts = []
    for sign in signs:
        if sign < 0:  # each event (user) kept with probability 1 − size
            kept = 1 - grid
            parts.append(_log_normal(x, kept * mu, variance(kept, kept * (1 - kept))))
        else:  # each event copied once more with probability size
            parts.append(_log_normal(x, (1 + grid) * mu, variance(1 + grid, grid * (1 - grid))))
    planted = np.concatenate(parts, axis=1)
    top = planted.max(axis=1, keepdims=True)
    average = top[:, 0] + np.log(np.mean(np.exp(planted - top), axis=1))  # uniform over signs × sizes
    return np.where(ok, average - clean[:, 0], -np.inf)


def posterior(
    observed: np.ndarray,
    bucket: float,
    truth: SegmentTruth,
    signs: Sequence[int],
    magnitudes: tuple[float, float],
    covariate: np.ndarray | None = None,
    drops_on: SegmentTruth | None = None,
) -> np.ndarray:
    """P(S was planted | the bucket) over the candidate segments, under a uniform prior on them
    (``observed``: each segment's count, ``bucket``: the bucket's total, ``covariate``: see
    :func:`log_evidence`).

    ``drops_on``: a truth fitted without the covariate, for a covariate only spikes leave alone — the senders of
    messages: a spike copies messages to the same senders, but a drop removes a sender with their only message
    (≈ 1.1 a bucket). Spikes are then judged given the covariate and drops on the counts alone. Given the
    messages, a drop leaves the senders about as they were (each kept message keeps its sender; thinning moves
    messages per sender towards 1 by a few per cent), so P(O, C | drop) / P(O, C | clean) ≈ P(O | drop) /
    P(O | clean), and the two evidences average as one likelihood ratio would."""
    if drops_on is None:
        evidence = log_evidence(observed, bucket, truth, signs, magnitudes, covariate)
    else:  # spikes read on the covariate, drops on the counts alone; the sign uniform as before
        parts = [
            log_evidence(observed, bucket, drops_on, (sign,), magnitudes)
            if sign < 0
            else log_evidence(observed, bucket, truth, (sign,), magnitudes, covariate)
            for sign in signs
        ]
        evidence = np.logaddexp.reduce(np.vstack(parts), axis=0) - np.log(len(parts))
    if not np.isfinite(evidence).any():  # no segment with a count in the replicas: nothing to tell them apart
        return np.full(len(evidence), 1 / len(evidence))
    weights = np.exp(evidence - evidence.max())
    return weights / weights.sum()


def _accepts(answer: Segment, planted: Segment) -> bool:
    return answer == planted or (len(planted) > 1 and len(answer) == 1 and answer[0] in planted)


def best_answers(segments: Sequence[Segment], probability: np.ndarray, k: int = 3) -> list[Segment]:
    """The ``k`` answers with the most posterior mass of a hit, chosen greedily (see the module doc)."""
    answers = list(dict.fromkeys([*segments, *((part,) for s in segments if len(s) > 1 for part in s)]))
    covers = np.array([[_accepts(a, s) for s in segments] for a in answers], dtype=bool)
    left = np.asarray(probability, dtype=float).copy()
    chosen: list[Segment] = []
    for _ in range(min(k, len(answers))):
        gain = covers @ left
        best = int(np.argmax(gain))
        chosen.append(answers[best])
        left = np.where(covers[best], 0.0, left)
        covers[best] = False
    return chosen
