"""Benchmark of the experiment statistics on synthetic per-user data (no ClickHouse needed).

* A/A: 10,000 simulated Welch t-tests, 500 users per group drawn from 10,000 users per group, and the
  calibrated verdict (2,000 fair re-splits of the pooled users), also timed alone;
* A/B: the full ``run_ab`` (7 tests, 2,000 Poisson-bootstrap resamples, 50 md5 buckets, polarisation
  check) on 20,000 users per group, plus its bootstrap alone;
* optionally (``--render``) the PNGs of both reports through one kaleido/Chromium session.

Best and median of ``--repeat`` runs.

    .venv/bin/python bench/experiments.py [--repeat 3] [--render]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from feedpulse.experiments import ab, report, resplit
from feedpulse.experiments.aa import run_aa
from feedpulse.experiments.ab import run_ab

console = Console(width=140)


def users(n: int, groups: tuple[int, ...], seed: int, lift: float = 1.0) -> pd.DataFrame:
    """Per-user likes/views: CTR ~ Beta(2, 8), views ~ Geometric(mean 20); the last group gets ``lift``."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, group in enumerate(groups):
        views = rng.geometric(1 / 20, n)
        ctr = rng.beta(2, 8, n) * (lift if i == len(groups) - 1 else 1.0)
        frames.append(
            pd.DataFrame(
                {
                    "exp_group": group,
                    "user_id": np.arange(i * n, (i + 1) * n) + 1,
                    "likes": rng.binomial(views, np.clip(ctr, 0, 1)),
                    "views": views,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def timed(func: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - start)
    return times, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="also time PNG rendering (needs Chromium)")
    args = parser.parse_args()

    aa_data = users(10_000, (2, 3), seed=1)
    ab_data = users(20_000, (0, 1), seed=2, lift=1.03)
    rows: list[tuple[str, list[float], str]] = []

    times, aa_result = timed(lambda: run_aa(aa_data, groups=(2, 3), sims=10_000, sample_size=500, seed=1), args.repeat)
    rows.append(
        (
            "A/A: 10,000 sims × 500 users/group (10k users/group), calibrated verdict incl.",
            times,
            f"fpr {aa_result.fpr:.2%}, {aa_result.verdict.status} (p = {aa_result.calibration.pvalue:.3f})",
        )
    )
    ctr_a = aa_data.loc[aa_data.exp_group == 2, "likes"] / aa_data.loc[aa_data.exp_group == 2, "views"]
    ctr_b = aa_data.loc[aa_data.exp_group == 3, "likes"] / aa_data.loc[aa_data.exp_group == 3, "views"]
    times, _ = timed(
        lambda: resplit.reference(
            ctr_a.to_numpy(), ctr_b.to_numpy(), aa_result.pvalues, 500, 0.05, 2000, np.random.default_rng(1)
        ),
        args.repeat,
    )
    rows.append(("  of which the reference: 2,000 fair re-splits of 20k users", times, ""))

    times, ab_result = timed(lambda: run_ab(ab_data, control=0, treatment=1, bootstrap=2000, seed=1), args.repeat)
    rows.append(
        (
            "A/B: full run_ab, 2,000 bootstrap, 20k users/group",
            times,
            f"{ab_result.verdict.recommendation} (effect {ab_result.verdict.effect:+.2%})",
        )
    )

    data_c, data_t = ab.group_data(ab_data, 0), ab.group_data(ab_data, 1)
    times, _ = timed(lambda: ab.poisson_bootstrap(data_c, data_t, 2000, 0.05, np.random.default_rng(1)), args.repeat)
    rows.append(("  of which Poisson bootstrap (2 × 2,000 × 20k weights)", times, ""))
    times, _ = timed(
        lambda: ab.bucket_ids(np.concatenate([data_c.user_id, data_t.user_id]), 50, "feedpulse"), args.repeat
    )
    rows.append(("  of which md5 buckets (40k users)", times, ""))

    if args.render:
        figures = {**report.aa_figures(aa_result), **report.ab_figures(ab_result)}
        times, _ = timed(lambda: report.render_pngs(figures), args.repeat)
        rows.append(("PNGs: 3 plots, one kaleido session (browser start incl.)", times, ""))

    table = Table(title=f"feedpulse experiment statistics (best / median of {args.repeat})")
    table.add_column("step")
    table.add_column("best, s", justify="right")
    table.add_column("median, s", justify="right")
    table.add_column("result")
    for name, times, note in rows:
        table.add_row(name, f"{min(times):.2f}", f"{statistics.median(times):.2f}", note)
    console.print(table)


if __name__ == "__main__":
    main()
