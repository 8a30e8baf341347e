"""``feedpulse alerts evaluate``: the detector vs the original rules on simulated weeks (see evaluate.py).

Prints one rich table (recall per magnitude band, recall at volume ≥ 100, precision, F1, delay,
false alerts on clean weeks) and the target checks, or ``{"detectors": {...}}`` with ``--json``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from feedpulse.alerts.config import ConfigError, default_config, load_config
from feedpulse.alerts.evaluate import (
    DEFAULT_START,
    MAGNITUDES,
    TARGETS,
    TUNING_SEEDS,
    aggregate,
    limit_detector,
    parse_seeds,
    run_evaluation,
    share_of_limit,
    targets,
)
from feedpulse.alerts.evaluate import limit_replicas as limit_replicas_of
from feedpulse.alerts.rootcause import TARGETS as TARGETS_RC
from feedpulse.alerts.rootcause import TEST_DAYS as ROOT_CAUSE_TEST_DAYS
from feedpulse.alerts.series import BUCKETS_PER_DAY
from feedpulse.identifiers import check_scratch_name
from feedpulse.scratch import ScratchDatabaseError

app = typer.Typer(help="15-minute anomaly alerts: detector evaluation.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)  # fmt: skip

TABLE_DETECTORS = ("feedpulse", "limit", "yesterday_pct", "yesterday_pct_20", "iqr")
LABELS = {
    "limit": "limit (knows E)",
    "yesterday_pct": "yesterday ±30%",
    "yesterday_pct_20": "yesterday ±20%",
    "iqr": "IQR a=3, n=5",
}


def _fmt(value: Any, percent: bool = True) -> str:
    if value is None:
        return "—"
    return f"{value:.0%}" if percent else f"{value:.2f}"


def _rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    types, large = s["recall_by_type"], s["recall_large_volume_by_magnitude"]
    rows = [(f"recall {m:.0%}", _fmt(s["recall_by_magnitude"][str(round(m * 100))])) for m in MAGNITUDES]
    rows += [(f"recall {m:.0%}, volume ≥ 100", _fmt(large[str(round(m * 100))])) for m in MAGNITUDES]
    rows += [
        ("recall ≥ 30%, volume ≥ 100", _fmt(s["recall_large_volume_30_plus"])),
        ("recall zero / missing", f"{_fmt(types['zero'])} / {_fmt(types['missing'])}"),
        ("recall spike/drop/shift/ramp", "/".join(_fmt(types[k]) for k in ("spike", "drop", "level_shift", "ramp"))),
        ("recall day / night", f"{_fmt(s['recall_by_period']['day'])} / {_fmt(s['recall_by_period']['night'])}"),
        ("recall (all events)", _fmt(s["recall"])),
        ("precision (alert events)", _fmt(s["precision"])),
        ("F1", _fmt(s["f1"], percent=False)),
        ("median delay (buckets)", _fmt(s["median_delay_buckets"], percent=False)),
        ("detections within 1 bucket", _fmt(s["within_1_bucket"])),
        ("false alerts / metric / week (clean)", _fmt(s["false_alerts_per_metric_week"], percent=False)),
        ("false alerts / series / week (clean)", _fmt(s["false_alerts_per_series_week"], percent=False)),
    ]
    return rows


def render_table(report: dict[str, Any]) -> Table:
    """One column per detector, one row per measure."""
    table = Table(
        title="Anomaly detection on simulated weeks (event-level; definitions in feedpulse/alerts/evaluate.py)"
    )
    names = [n for n in TABLE_DETECTORS if n in report["detectors"]]
    table.add_column("measure")
    for name in names:
        table.add_column(LABELS.get(name, name), justify="right")
    columns = [_rows(report["detectors"][name]) for name in names]
    for i, (label, _) in enumerate(columns[0]):
        table.add_row(label, *[column[i][1] for column in columns])
    return table


def render_targets(report: dict[str, Any]) -> list[str]:
    """One line per target of the feedpulse detector, plus the F1 comparison."""
    detectors = report["detectors"]
    lines = []
    for name, (value, target, met) in targets(detectors["feedpulse"]).items():
        shown = "—" if value is None else f"{value:.2f}"
        lines.append(f"{'met    ' if met else 'NOT met'}  {name}: {shown} (target {target:g})")
    f1 = detectors["feedpulse"]["f1"]
    better = all(f1 > detectors[b]["f1"] for b in ("yesterday_pct", "iqr"))
    others = ", ".join(f"{b} {detectors[b]['f1']:.2f}" for b in ("yesterday_pct", "iqr"))
    lines.append(f"{'met    ' if better else 'NOT met'}  F1 better than both rules: {f1:.2f} vs {others}")
    return lines


@app.callback()
def main() -> None:
    """15-minute anomaly alerts."""


WEEKS = typer.Option(4, "--weeks", min=1, max=12, help="Evaluated weeks (after the warm-up).")
SCALE = typer.Option(1.0, "--scale", min=0.05, help="Simulator scale (1 ≈ the original app).")
SEED = typer.Option(42, "--seed", help="Seed of the simulation and of the injected anomalies.")
WARMUP = typer.Option(14, "--warmup-days", min=1, help="Clean history before the evaluated weeks.")
DATABASE = typer.Option(
    None,
    "--database",
    help="Name of the scratch database to create: must start with feedpulse_scratch_ and must not exist "
    "(default: a new feedpulse_scratch_<uuid>). It is dropped afterwards unless --keep.",
)
CONFIG = typer.Option(None, "--config", help="alerts.yaml to evaluate (default: the shipped one).")
KEEP = typer.Option(False, "--keep", help="Keep the scratch database.")
JSON = typer.Option(False, "--json", help='Print {"detectors": {...}} as JSON.')
SEEDS = typer.Option(
    None,
    "--seeds",
    help="Several seeds, e.g. 101-110 or 42,7,101-105: every figure per seed, with the mean and the worst seed "
    f"(tuning seeds {','.join(map(str, TUNING_SEEDS))}; the rest are held out).",
)
ROOT_CAUSE = typer.Option(
    False,
    "--root-cause",
    help="Run the root-cause harness on the seeds instead (plants confined to one segment; top-1/top-3 hit rates "
    "of the explainer; see feedpulse/alerts/rootcause.py).",
)
PLANTS = typer.Option(20, "--plants", min=1, max=40, help="Root-cause plants per test day.")
TEST_DAYS = typer.Option(
    ROOT_CAUSE_TEST_DAYS,
    "--test-days",
    min=1,
    max=7,
    help="Root-cause test days per seed (each judged, then re-simulated clean as the next day's history).",
)
LIMIT_REPLICAS = typer.Option(
    5,
    "--limit-replicas",
    min=0,
    max=32,
    help="With --seeds: clean noise replicas of each seed's population for the limit detector (its expectations "
    "and noise dispersion; each replica simulates the evaluated weeks again); 0 leaves the limit out.",
)

CEILING_REPLICAS = typer.Option(
    0,
    "--ceiling-replicas",
    min=0,
    max=64,
    help="With --root-cause: the root-cause ceiling on the same plants (the best hit rates any explainer could "
    "reach; feedpulse/alerts/rootcause_ceiling.py) from this many clean replicas of each test day (each "
    "replica simulates the day again); 0 leaves it out.",
)


@app.command("evaluate")
def evaluate_command(
    weeks: int = WEEKS,
    scale: float = SCALE,
    seed: int = SEED,
    warmup_days: int = WARMUP,
    database: str | None = DATABASE,
    config_path: Path | None = CONFIG,
    keep: bool = KEEP,
    as_json: bool = JSON,
    seeds: str | None = SEEDS,
    root_cause: bool = ROOT_CAUSE,
    plants: int = PLANTS,
    test_days: int = TEST_DAYS,
    limit_replicas: int = LIMIT_REPLICAS,
    ceiling_replicas: int = CEILING_REPLICAS,
) -> None:
    """Simulate weeks, inject anomalies, compare the feedpulse detector with the original rules."""
    from feedpulse.clickhouse import get_client

    try:
        config = load_config(config_path) if config_path else default_config()
        if database is not None:
            check_scratch_name(database, "--database")
        seed_list = parse_seeds(seeds) if seeds is not None else None
        if seed_list is not None and database is not None and len(seed_list) > 1:
            raise ValueError("--database names one scratch database: use it with a single seed")
    except (ConfigError, ValueError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    if seed_list is not None or root_cause:
        _evaluate_seeds(config, seed_list or [seed], weeks, scale, warmup_days, keep, as_json, root_cause, plants,
                        limit_replicas, test_days, ceiling_replicas)  # fmt: skip
        return
    client = get_client()
    try:
        report = run_evaluation(client, weeks=weeks, scale=scale, seed=seed, warmup_days=warmup_days,
                                database=database, config=config, keep=keep)  # fmt: skip
    except ScratchDatabaseError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        client.close()
    if keep:
        typer.echo(f"scratch database kept: {report['meta']['database']}", err=True)
    if as_json:
        typer.echo(json.dumps({"detectors": report["detectors"]}, indent=2, ensure_ascii=False))
        return
    console = Console(width=max(Console().width, 110))
    console.print(render_table(report))
    meta = report["meta"]
    first = next(iter(report["detectors"].values()))
    console.print(
        f"{meta['series']} series (6 metrics × total/iOS/Android), {weeks} evaluated weeks after {warmup_days} "
        f"warm-up days, scale {scale:g}, seed {seed}; {first['events']} injected anomalies "
        f"({first['events_large_volume']} at volume ≥ 100); timings {meta['seconds']}",
        highlight=False,
    )
    console.print(f"Targets (feedpulse, scale 1; false-alert target ≤ {TARGETS['false_alerts_per_metric_week']:g}):")
    for line in render_targets(report):
        console.print("  " + line, highlight=False, markup=False)


def _evaluate_seeds(
    config, seeds: list[int], weeks: int, scale: float, warmup_days: int, keep: bool, as_json: bool,
    root_cause: bool, plants: int, limit_replicas: int = 5, test_days: int | None = None, ceiling_replicas: int = 0,
) -> None:  # fmt: skip
    """``--seeds`` / ``--root-cause``: per seed, mean and worst; the held-out seeds named."""
    from feedpulse.alerts.rootcause import run_rootcause
    from feedpulse.clickhouse import get_client

    client = get_client()
    try:
        if root_cause:
            report = run_rootcause(client, seeds, config=config, scale=scale, per_day=plants,
                                   test_days=test_days or ROOT_CAUSE_TEST_DAYS,
                                   ceiling_replicas=ceiling_replicas)  # fmt: skip
        else:
            per_seed, streams, models = {}, {}, {}
            for s in seeds:
                streams[s] = []
                report = run_evaluation(client, weeks=weeks, scale=scale, seed=s, warmup_days=warmup_days,
                                        config=config, keep=keep, streams_out=streams[s])  # fmt: skip
                per_seed[str(s)] = report["detectors"]
                if limit_replicas:
                    models[s] = limit_replicas_of(client, seed=s, replicas=limit_replicas, scale=scale, config=config,
                                                  start=DEFAULT_START + dt.timedelta(days=warmup_days),
                                                  days=7 * weeks)  # fmt: skip
    except ScratchDatabaseError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        client.close()
    if root_cause:
        _print_rootcause(report, seeds, scale, as_json)
        return
    held_out = [s for s in seeds if s not in TUNING_SEEDS]
    limit_note = "limit detector left out (--limit-replicas 0)"
    if limit_replicas:
        budget = float(np.mean([d["feedpulse"]["false_alerts_per_metric_week"] for d in per_seed.values()]))
        limits, theta = limit_detector(streams, models, config, warmup_days * BUCKETS_PER_DAY, weeks, budget)
        for s, summary in limits.items():
            per_seed[str(s)]["limit"] = summary
            per_seed[str(s)]["feedpulse"]["recall_share_of_limit"] = share_of_limit(per_seed[str(s)]["feedpulse"],
                                                                                     summary)  # fmt: skip
        first = models[seeds[0]]
        dispersion = {f"{m}/{sl}": round(first[(m, sl)].dispersion, 2) for m, sl in first if sl == "total"}
        limit_note = (f"limit detector: knows each bucket's expectation and the noise's dispersion, from "
                      f"{limit_replicas} clean noise replicas of each seed's own population (seed {seeds[0]}: "
                      f"dispersion {dispersion}); negative-binomial (counts) / normal-binomial (CTR) tail, "
                      f"threshold 10^−{theta:.2f} = feedpulse's pooled false alerts ({budget:.2f} per "
                      f"metric-week)")  # fmt: skip
    report: dict[str, Any] = {
        "seeds": seeds, "tuning_seeds": [s for s in seeds if s in TUNING_SEEDS], "held_out_seeds": held_out,
        "per_seed": per_seed, "summary": aggregate(per_seed), "limit": limit_note,
        "recall_share_of_limit": _share_summary(per_seed),
    }  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    console = Console(width=max(Console().width, 110))
    console.print(render_summary(report))
    console.print(report["limit"], highlight=False)
    for band, figure in report["recall_share_of_limit"].items():
        shown = f"mean {_fmt(figure['mean'])}, worst {_fmt(figure['worst'])}"
        console.print(f"feedpulse recall {band}% (volume ≥ 100) as a share of the limit's: {shown}", highlight=False)
    console.print(
        f"seeds {','.join(map(str, seeds))}; held out (not tuned on): {','.join(map(str, held_out)) or 'none'}; "
        f"{weeks} evaluated weeks after {warmup_days} warm-up days, scale {scale:g}",
        highlight=False,
    )


def _print_rootcause(report: dict[str, Any], seeds: list[int], scale: float, as_json: bool) -> None:
    held_out = [s for s in seeds if s not in TUNING_SEEDS]
    report = {"seeds": seeds, "tuning_seeds": [s for s in seeds if s in TUNING_SEEDS], "held_out_seeds": held_out,
              **report}  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    console = Console(width=max(Console().width, 110))
    console.print(render_rootcause(report))
    pooled = report["pooled"]["carrying_20_plus"]
    fired = report["pooled"]["carrying_20_plus_fired"]

    def figure(group: dict[str, Any], key: str, name: str) -> str:
        interval = group.get(f"{key}_ci")
        over = report.get("over_seeds", {}).get(name, {}).get(key, {})
        text = _fmt(group[key])
        if interval:
            text += f" (95 % CI {_fmt(interval[0])}–{_fmt(interval[1])})"
        if over.get("mean") is not None:
            text += f", seeds' mean {_fmt(over['mean'])}, worst {_fmt(over['worst'])} (seed {over['worst_seed']})"
        return text

    console.print(
        f"seeds {','.join(map(str, seeds))} (held out: {','.join(map(str, held_out)) or 'none'}), scale {scale:g}; "
        f"targets for plants carrying ≥ 20 % of the deviation: top-1 ≥ {TARGETS_RC['top1']:g}, top-3 ≥ "
        f"{TARGETS_RC['top3']:g}.\n"
        f"pooled (n = {pooled['n']}): top-1 {figure(pooled, 'top1', 'carrying_20_plus')}; "
        f"top-3 {figure(pooled, 'top3', 'carrying_20_plus')}\n"
        f"where the detector fired (n = {fired['n']}): top-1 {figure(fired, 'top1', 'carrying_20_plus_fired')}; "
        f"top-3 {figure(fired, 'top3', 'carrying_20_plus_fired')}",
        highlight=False,
    )
    ceilings = {"ceiling": "ceiling (knows how plants act)", "counts_ceiling": "counts ceiling (the metric's counts)"}
    for label, group in (("plants ≥ 20 %", pooled), ("where the detector fired", fired)):
        for name, title in ceilings.items():
            limit = group.get(name)
            if limit:
                console.print(
                    f"{title}, {label} (n = {limit['n']}): top-1 {_fmt(limit['top1'])}, top-3 "
                    f"{_fmt(limit['top3'])}; the explainer reaches {_fmt(limit['share_top1'])} / "
                    f"{_fmt(limit['share_top3'])} of it",
                    highlight=False,
                )


def _share_summary(per_seed: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for band in (str(round(m * 100)) for m in MAGNITUDES):
        values = [d["feedpulse"].get("recall_share_of_limit", {}).get(band) for d in per_seed.values()]
        values = [v for v in values if v is not None]
        out[band] = {"mean": float(np.mean(values)) if values else None, "worst": min(values) if values else None}
    return out


SUMMARY_ROWS = (
    ("recall ≥ 30%, volume ≥ 100", "recall_large_volume_30_plus", True),
    ("recall 20%, volume ≥ 100", "recall_large_volume_20", True),
    ("recall (all events)", "recall", True),
    ("precision", "precision", True),
    ("F1", "f1", False),
    ("detections within 1 bucket", "within_1_bucket", True),
    ("false alerts / metric / week", "false_alerts_per_metric_week", False),
)


def render_summary(report: dict[str, Any]) -> Table:
    """Mean and worst seed per detector for the headline figures."""
    table = Table(title="Anomaly detection over seeds: mean (worst seed)")
    names = [n for n in TABLE_DETECTORS if n in report["summary"]]
    table.add_column("measure")
    for name in names:
        table.add_column(LABELS.get(name, name), justify="right")
    for label, key, percent in SUMMARY_ROWS:
        cells = []
        for name in names:
            figure = report["summary"][name].get(key, {})
            cells.append(f"{_fmt(figure.get('mean'), percent)} ({_fmt(figure.get('worst'), percent)})")
        table.add_row(label, *cells)
    return table


def render_rootcause(report: dict[str, Any]) -> Table:
    """Top-1 / top-3 hit rates of the explainer, per seed and pooled."""
    table = Table(title="Root cause: planted segment (or its parent for pairs) in the explainer's top 1 / top 3")
    columns = ("seed", "plants ≥ 20 %", "top-1", "top-3", "fired: n", "fired top-1", "fired top-3", "singles top-1",
               "pairs top-1", "< 20 %: top-1", "detector fired")  # fmt: skip
    with_ceiling = "ceiling" in report["pooled"]["carrying_20_plus"]
    if with_ceiling:
        columns = (*columns, "ceiling top-1", "ceiling top-3", "counts ceiling top-1", "counts ceiling top-3")
    for column in columns:
        table.add_column(column, justify="right")
    rows = [*report["per_seed"].items(), ("pooled", report["pooled"])]
    for seed, s in rows:
        c, f = s["carrying_20_plus"], s["carrying_20_plus_fired"]
        cells = [seed, str(c["n"]), _fmt(c["top1"]), _fmt(c["top3"]), str(f["n"]), _fmt(f["top1"]), _fmt(f["top3"]),
                 _fmt(s["single"]["top1"]), _fmt(s["pair"]["top1"]), _fmt(s["carrying_under_20"]["top1"]),
                 _fmt(s["fired"])]  # fmt: skip
        if with_ceiling:
            for name in ("ceiling", "counts_ceiling"):
                cells += [_fmt(c.get(name, {}).get("top1")), _fmt(c.get(name, {}).get("top3"))]
        table.add_row(*cells)
    return table
