"""Calibration harness of the A/A verdict: how often it says "broken" on fair splits, and what it catches.

Simulated users are shaped like the course's real app (per-user figures of its A/A groups): mean user
CTR 0.219 with a standard deviation of 0.081, and views per user with q10/q25/q90/q99 = 0.30/0.56/2.2/3.5 ×
the median — many users with few views. Views follow a Weibull law fitted to those quantile ratios
(shape 1.53 reproduces them within 3 %); a user's true CTR is Beta-distributed with the mean 0.219 and
the variance that, with the binomial noise of the user's views, gives an observed user-CTR SD of 0.081.

Scenarios (two groups, 2 and 3, ``population`` users each on average):

- ``fair``: every user lands in group 2 or 3 with probability 1/2 (as a hash split does);
- ``srm``: sample-ratio mismatch, probability 0.52 / 0.48;
- ``steer``: fair, then 3 % of all users, taken from the top CTR decile, are steered into group 2;
- ``bots``: fair, plus a bot group (2 % of the group's size) in group 2: heavy viewers (5 × the median
  views) with a CTR of 0.5 %.

Each (scenario, population, sample size, split index) has its own seed derived from ``seed_base``;
report measurements on a ``seed_base`` you did not tune on (BENCHMARKS.md states which).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
from scipy import stats

from feedpulse.experiments.aa import run_aa

APP_CTR_MEAN = 0.219
APP_CTR_STD = 0.081
VIEWS_SHAPE = 1.53  # Weibull shape fitted to the app's views-per-user quantile ratios
VIEWS_RATIOS = {0.10: 0.30, 0.25: 0.56, 0.90: 2.2, 0.99: 3.5}  # quantile / median of views per user
MEDIAN_VIEWS = 60
SCENARIOS: tuple[str, ...] = ("fair", "srm", "steer", "bots")
SRM_SHARE = 0.52
STEER_SHARE = 0.03
STEER_FROM_QUANTILE = 0.90
BOT_SHARE = 0.02
BOT_VIEWS_FACTOR = 5
BOT_CTR = 0.005
TUNING_SEED_BASE = 1  # used while building the verdict and the harness
HELD_OUT_SEED_BASE = 2  # the one BENCHMARKS.md reports


def app_users(n: int, rng: np.random.Generator, median_views: float = MEDIAN_VIEWS) -> pd.DataFrame:
    """``n`` users with ``likes``, ``views`` and their true ``ctr``, shaped like the app's (module docstring)."""
    views = _views(median_views, rng, n)
    inv_views = _mean_inverse_views(median_views)
    mean = APP_CTR_MEAN
    # observed variance = Var(p) + E[p(1 − p)]·E[1/v]  ⇒  solve for Var(p)
    var_p = (APP_CTR_STD**2 - mean * (1 - mean) * inv_views) / (1 - inv_views)
    if var_p <= 0:
        raise ValueError(f"median_views={median_views} too small: binomial noise alone exceeds SD {APP_CTR_STD}")
    concentration = mean * (1 - mean) / var_p - 1
    ctr = rng.beta(mean * concentration, (1 - mean) * concentration, n)
    likes = rng.binomial(views, ctr)
    return pd.DataFrame({"likes": likes, "views": views, "ctr": ctr})


def _views(median_views: float, rng: np.random.Generator, n: int) -> np.ndarray:
    weibull_median = np.log(2.0) ** (1.0 / VIEWS_SHAPE)
    return np.maximum(1, np.rint(median_views * rng.weibull(VIEWS_SHAPE, n) / weibull_median)).astype(np.int64)


@cache
def _mean_inverse_views(median_views: float) -> float:
    """E[1/views] of the law (not of a sample: a small sample's would move the CTR spread around)."""
    return float(np.mean(1.0 / _views(median_views, np.random.default_rng(0), 2_000_000)))


def scenario_frame(kind: str, population: int, rng: np.random.Generator) -> pd.DataFrame:
    """Per-user ``exp_group, user_id, likes, views`` of groups 2 and 3 for one split of ``kind``."""
    if kind not in SCENARIOS:
        raise ValueError(f"unknown scenario {kind!r}: expected one of {', '.join(SCENARIOS)}")
    users = app_users(2 * population, rng)
    share = SRM_SHARE if kind == "srm" else 0.5
    group = np.where(rng.random(len(users)) < share, 2, 3)
    if kind == "steer":
        top = np.flatnonzero(users["ctr"].to_numpy() >= np.quantile(users["ctr"], STEER_FROM_QUANTILE))
        steered = rng.choice(top, size=min(len(top), round(STEER_SHARE * len(users))), replace=False)
        group[steered] = 2
    frame = users.assign(exp_group=group)
    if kind == "bots":
        count = max(1, round(BOT_SHARE * population))
        views = np.rint(BOT_VIEWS_FACTOR * MEDIAN_VIEWS * rng.uniform(0.5, 1.5, count)).astype(np.int64)
        bots = pd.DataFrame({"likes": rng.binomial(views, BOT_CTR), "views": views, "ctr": BOT_CTR, "exp_group": 2})
        frame = pd.concat([frame, bots], ignore_index=True)
    frame["user_id"] = np.arange(1, len(frame) + 1)
    return frame[["exp_group", "user_id", "likes", "views"]]


def split_seed(seed_base: int, kind: str, population: int, sample_size: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed_base, SCENARIOS.index(kind), population, sample_size, index])


@dataclass
class Cell:
    """Verdicts of ``splits`` splits of one scenario, population size and sample size."""

    kind: str
    population: int
    sample_size: int
    statuses: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def splits(self) -> int:
        return len(self.statuses)

    def count(self, *statuses: str) -> int:
        return sum(status in statuses for status in self.statuses)

    def rate(self, *statuses: str) -> tuple[float, float, float]:
        """Share of splits with one of ``statuses`` and its 95 % Wilson CI."""
        return rate_ci(self.count(*statuses), self.splits)

    def to_dict(self) -> dict[str, object]:
        broken, low, high = self.rate("broken")
        return {
            "scenario": self.kind,
            "population": self.population,
            "sample_size": self.sample_size,
            "splits": self.splits,
            "broken": self.count("broken"),
            "borderline": self.count("borderline"),
            "broken_rate": broken,
            "broken_rate_ci": [low, high],
            "seconds_per_split": self.seconds / max(self.splits, 1),
        }


def rate_ci(hits: int, total: int) -> tuple[float, float, float]:
    if total == 0:
        return float("nan"), float("nan"), float("nan")
    ci = stats.binomtest(hits, total).proportion_ci(confidence_level=0.95, method="wilson")
    return hits / total, float(ci.low), float(ci.high)


def run_cell(
    kind: str,
    population: int,
    sample_size: int,
    splits: int,
    *,
    sims: int,
    resplits: int,
    seed_base: int,
) -> Cell:
    """The verdicts of ``splits`` independent splits (a fresh population each)."""
    cell = Cell(kind, population, sample_size)
    started = time.perf_counter()
    for index in range(splits):
        seq = split_seed(seed_base, kind, population, sample_size, index)
        data_seq, aa_seq = seq.spawn(2)
        frame = scenario_frame(kind, population, np.random.default_rng(data_seq))
        result = run_aa(
            frame,
            groups=(2, 3),
            sims=sims,
            sample_size=sample_size,
            seed=int(aa_seq.generate_state(1)[0]),
            resplits=resplits,
        )
        cell.statuses.append(result.verdict.status)
    cell.seconds = time.perf_counter() - started
    return cell


def feasible(population: int, sample_size: int) -> bool:
    """A sample must leave room in a group (sizes vary by split): at most 80 % of its expected size."""
    return sample_size <= 0.8 * population


def run_harness(
    populations: Sequence[int],
    sample_sizes: Sequence[int],
    *,
    splits: int,
    power_splits: int,
    sims: int,
    resplits: int,
    seed_base: int,
    scenarios: Sequence[str] = SCENARIOS,
    progress: Callable[[Cell], None] | None = None,
) -> list[Cell]:
    cells = []
    for kind in scenarios:
        for population in populations:
            for sample_size in sample_sizes:
                if not feasible(population, sample_size):
                    continue
                count = splits if kind == "fair" else power_splits
                cell = run_cell(kind, population, sample_size, count, sims=sims, resplits=resplits, seed_base=seed_base)
                cells.append(cell)
                if progress:
                    progress(cell)
    return cells


def pooled(cells: Sequence[Cell], kind: str, status: str = "broken") -> tuple[int, int, tuple[float, float, float]]:
    chosen = [cell for cell in cells if cell.kind == kind]
    hits = sum(cell.count(status) for cell in chosen)
    total = sum(cell.splits for cell in chosen)
    return hits, total, rate_ci(hits, total)


def markdown_table(cells: Sequence[Cell]) -> str:
    """The BENCHMARKS.md tables: false "broken" rate on fair splits, then power per broken-split kind."""

    def pct(value: float) -> str:
        return f"{100 * value:.1f} %"

    lines = [
        "| scenario | users per group | sample size | splits | broken | borderline | broken rate (95 % CI) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for cell in cells:
        rate, low, high = cell.rate("broken")
        lines.append(
            f"| {cell.kind} | {cell.population:,} | {cell.sample_size} | {cell.splits} | {cell.count('broken')} | "
            f"{cell.count('borderline')} | {pct(rate)} ({pct(low)} – {pct(high)}) |"
        )
    summary = ["", "| scenario | splits | broken | broken rate (95 % CI) |", "| --- | ---: | ---: | --- |"]
    for kind in dict.fromkeys(cell.kind for cell in cells):
        hits, total, (rate, low, high) = pooled(cells, kind)
        summary.append(f"| {kind} (all sizes) | {total} | {hits} | {pct(rate)} ({pct(low)} – {pct(high)}) |")
    return "\n".join(lines + summary) + "\n"
