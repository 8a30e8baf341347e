"""``feedpulse experiment aa|ab``: A/A and A/B statistics from a CSV or from ClickHouse.

Input is per-user ``exp_group, user_id, likes, views`` (``--csv FILE``) or per-user aggregates
of the ETL's ``{database}.user_daily`` between ``--start`` and ``--end`` (``--from-db``). Output is a rich
table with the verdict, or the result as JSON (``--json``); ``--png-dir`` saves the plots and
``--markdown`` the full report. Bad input exits with code 2 and a message naming the problem.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from feedpulse.config import language
from feedpulse.experiments import calibrate, report
from feedpulse.experiments.aa import RESPLITS, AAResult, run_aa
from feedpulse.experiments.ab import ABResult, run_ab
from feedpulse.experiments.calibrate import HELD_OUT_SEED_BASE, SCENARIOS, TUNING_SEED_BASE
from feedpulse.experiments.data import ANALYTICS_DATABASE, ExperimentDataError, load_csv, load_from_db

app = typer.Typer(
    help="Experiment statistics: A/A checks of the split and A/B tests of feed CTR.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

CSV = typer.Option(None, "--csv", help="Per-user CSV with columns exp_group,user_id,likes,views.")
FROM_DB = typer.Option(
    False, "--from-db", help="Aggregate the daily ETL's user_daily in ClickHouse instead of reading a CSV."
)
START = typer.Option(None, "--start", help="First day (YYYY-MM-DD) with --from-db.")
END = typer.Option(None, "--end", help="Last day (YYYY-MM-DD, inclusive) with --from-db.")
DATABASE = typer.Option(
    None,
    "--database",
    help="Database holding the ETL's user_daily (with --from-db; default: analytics).",
)
SEED = typer.Option(None, "--seed", help="Random seed (reproducible draws / bootstrap).")
JSON = typer.Option(False, "--json", help="Print the result as JSON.")
PNG_DIR = typer.Option(None, "--png-dir", help="Save the plots as PNGs here (needs Chromium).")
MARKDOWN = typer.Option(None, "--markdown", help="Write the markdown report to this file.")
LANG = typer.Option(None, "--lang", help="Language of the texts: ru or en (default: FEEDPULSE_LANGUAGE, else ru).")
ALPHA = typer.Option(0.05, "--alpha", help="Significance level.")
TABLES = typer.Option(None, "--markdown", help="Write the tables (BENCHMARKS.md format) here.")

VERDICT_COLORS = {"roll out": "green", "do not roll out": "red", "inconclusive": "yellow"}
AA_COLORS = {"works": "green", "borderline": "yellow", "broken": "red"}

err_console = Console(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]Error:[/] {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _parse_groups(text: str) -> list[int]:
    try:
        groups = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        _fail(f"--groups: expected comma-separated integers like 2,3, got {text!r}")
    if len(groups) != 2 or groups[0] == groups[1]:
        _fail(f"--groups: expected two different groups like 2,3, got {text!r}")
    return groups


def _load(
    csv: Path | None, from_db: bool, start: str | None, end: str | None, database: str | None, groups: Sequence[int]
) -> pd.DataFrame:
    if csv is not None and from_db:
        _fail("use either --csv FILE or --from-db, not both")
    if from_db:
        if not start or not end:
            _fail("--from-db needs --start and --end (YYYY-MM-DD)")
        from feedpulse.clickhouse import get_client

        try:
            client = get_client()
        except Exception as exc:  # connection problems: not the user's input
            _fail(f"cannot reach ClickHouse: {exc}", code=1)
        return load_from_db(client, start, end, groups, database=database or ANALYTICS_DATABASE)
    if csv is None:
        _fail("no input: give --csv FILE or --from-db --start D --end D")
    return load_csv(csv)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _print_json(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(_jsonable(data), ensure_ascii=False, indent=2, allow_nan=False))


def _emit(
    result: AAResult | ABResult,
    lang: str,
    print_table: Callable[[Any, str], None],
    figures: Callable[[], dict],
    markdown_text: Callable[[], str],
    png_dir: Path | None,
    markdown: Path | None,
    json_output: bool,
) -> None:
    """Print the result (JSON or table), then write the markdown / PNGs asked for (built only then)."""
    if json_output:
        _print_json(report.result_json(result, lang))
    else:
        print_table(result, lang)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(markdown_text(), encoding="utf-8")
        if not json_output:
            err_console.print(f"markdown report: {markdown}")
    if png_dir is None:
        return
    try:
        paths = report.save_pngs(report.render_pngs(figures()), png_dir)
    except RuntimeError as exc:
        _fail(f"cannot render plots: {exc}", code=1)
    if not json_output:
        err_console.print("plots: " + ", ".join(str(p) for p in paths))


def _check_lang(lang: str | None) -> str:
    """``--lang`` checked, or the default language (FEEDPULSE_LANGUAGE) when not given."""
    try:
        return language(lang)
    except ValueError as exc:
        _fail(f"--lang: {exc}")


@app.command("aa")
def aa_command(
    csv: Path | None = CSV,
    groups: str = typer.Option("2,3", "--groups", help="The two groups, e.g. 2,3."),
    sims: int = typer.Option(10_000, "--sims", help="Number of simulated A/A tests.", min=1),
    sample_size: int = typer.Option(500, "--sample-size", help="Users drawn per group.", min=2),
    resplits: int = typer.Option(
        RESPLITS, "--resplits", help="Fair random re-splits of the pooled users the verdict is calibrated on.", min=1
    ),
    alpha: float = ALPHA,
    seed: int | None = SEED,
    json_output: bool = JSON,
    from_db: bool = FROM_DB,
    start: str | None = START,
    end: str | None = END,
    database: str | None = DATABASE,
    png_dir: Path | None = PNG_DIR,
    markdown: Path | None = MARKDOWN,
    lang: str | None = LANG,
) -> None:
    """A/A test: repeated Welch t-tests on random subsamples of two groups; is the false positive rate ≈ alpha?"""
    lang = _check_lang(lang)
    group_list = _parse_groups(groups)
    try:
        df = _load(csv, from_db, start, end, database, group_list)
        result = run_aa(
            df, groups=group_list, sims=sims, sample_size=sample_size, alpha=alpha, seed=seed, resplits=resplits
        )
    except ExperimentDataError as exc:
        _fail(str(exc))
    _emit(
        result,
        lang,
        _print_aa,
        lambda: report.aa_figures(result),
        lambda: report.aa_markdown(result, lang),
        png_dir,
        markdown,
        json_output,
    )


@app.command("aa-calibrate")
def aa_calibrate_command(
    populations: str = typer.Option("1000,5000,50000", "--populations", help="Users per group, comma-separated."),
    sample_sizes: str = typer.Option("100,500,1000", "--sample-sizes", help="Users drawn per group, comma-separated."),
    splits: int = typer.Option(200, "--splits", help="Fair splits per population and sample size.", min=1),
    power_splits: int = typer.Option(50, "--power-splits", help="Broken splits per kind, population and size.", min=1),
    scenarios: str = typer.Option(",".join(SCENARIOS), "--scenarios", help="Which of fair,srm,steer,bots to run."),
    sims: int = typer.Option(10_000, "--sims", help="Simulated A/A tests per split (as in the verdict).", min=10),
    resplits: int = typer.Option(RESPLITS, "--resplits", help="Fair re-splits behind each verdict.", min=10),
    seed_base: int = typer.Option(
        HELD_OUT_SEED_BASE,
        "--seed-base",
        help=f"Seed base (tuning: {TUNING_SEED_BASE}; held out: {HELD_OUT_SEED_BASE}).",
    ),
    json_output: bool = JSON,
    markdown: Path | None = TABLES,
) -> None:
    """Calibration harness of the A/A verdict: its false "broken" rate on fair splits and its power."""
    kinds = [part.strip() for part in scenarios.split(",") if part.strip()]
    unknown = [kind for kind in kinds if kind not in SCENARIOS]
    if unknown or not kinds:
        _fail(f"--scenarios: expected some of {', '.join(SCENARIOS)}, got {scenarios!r}")
    sizes = {"--populations": populations, "--sample-sizes": sample_sizes}
    parsed = {option: _positive_ints(option, text) for option, text in sizes.items()}

    def progress(cell: calibrate.Cell) -> None:
        rate, low, high = cell.rate("broken")
        err_console.print(
            f"{cell.kind:>5} {cell.population:>6} users/group, sample {cell.sample_size:>4}: "
            f"{cell.count('broken')}/{cell.splits} broken ({rate:.1%}, CI {low:.1%}–{high:.1%}), "
            f"{cell.seconds / cell.splits:.2f} s/split",
            soft_wrap=True,
        )

    cells = calibrate.run_harness(
        parsed["--populations"],
        parsed["--sample-sizes"],
        splits=splits,
        power_splits=power_splits,
        sims=sims,
        resplits=resplits,
        seed_base=seed_base,
        scenarios=kinds,
        progress=None if json_output else progress,
    )
    if not cells:
        _fail("no feasible cell: every sample size exceeds 80 % of the population")
    table = calibrate.markdown_table(cells)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(table, encoding="utf-8")
    if json_output:
        _print_json(
            {
                "seed_base": seed_base,
                "sims": sims,
                "resplits": resplits,
                "cells": [cell.to_dict() for cell in cells],
            }
        )
    else:
        typer.echo(table)


def _positive_ints(option: str, text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        _fail(f"{option}: expected comma-separated integers, got {text!r}")
    if not values or min(values) < 2:
        _fail(f"{option}: expected integers ≥ 2, got {text!r}")
    return values


@app.command("ab")
def ab_command(
    csv: Path | None = CSV,
    control: int = typer.Option(0, "--control", help="Control group."),
    treatment: int = typer.Option(1, "--treatment", help="Treatment group."),
    alpha: float = ALPHA,
    seed: int | None = SEED,
    bootstrap: int = typer.Option(2000, "--bootstrap", help="Poisson bootstrap resamples.", min=10),
    buckets: int = typer.Option(50, "--buckets", help="Buckets for the bucket transform.", min=2),
    smoothing_alpha: float = typer.Option(5.0, "--smoothing-alpha", help="α of the smoothed CTR."),
    json_output: bool = JSON,
    from_db: bool = FROM_DB,
    start: str | None = START,
    end: str | None = END,
    database: str | None = DATABASE,
    png_dir: Path | None = PNG_DIR,
    markdown: Path | None = MARKDOWN,
    lang: str | None = LANG,
) -> None:
    """A/B test of CTR: t-tests, Mann–Whitney, bootstrap, buckets, linearization, SRM, guardrail and a verdict."""
    lang = _check_lang(lang)
    try:
        df = _load(csv, from_db, start, end, database, [control, treatment])
        result = run_ab(
            df,
            control=control,
            treatment=treatment,
            alpha=alpha,
            smoothing_alpha=smoothing_alpha,
            bootstrap=bootstrap,
            buckets=buckets,
            seed=seed,
        )
    except ExperimentDataError as exc:
        _fail(str(exc))
    _emit(
        result,
        lang,
        _print_ab,
        lambda: report.ab_figures(result),
        lambda: report.ab_markdown(result, lang),
        png_dir,
        markdown,
        json_output,
    )


def _print_aa(result: AAResult, lang: str) -> None:
    console = Console()
    a, b = result.groups
    table = Table(title=report.T.text("aa_title", lang, a=a, b=b))
    table.add_column(report.HEADERS.word("metric", lang))
    table.add_column(report.HEADERS.word("value", lang), justify="right")
    table.add_row("simulations × users per group", f"{result.sims:,} × {result.sample_size}")
    table.add_row(f"users with views > 0 ({a} / {b})", f"{result.users[a]:,} / {result.users[b]:,}")
    table.add_row(f"share of p ≤ {result.alpha}", report.pct(result.fpr))
    table.add_row("95% CI (Wilson)", f"{report.pct(result.fpr_ci[0])} – {report.pct(result.fpr_ci[1])}")
    table.add_row(
        "KS p / D (uniform p-values)",
        f"{report.pval(result.uniformity_pvalue)} / {report.num(result.uniformity_statistic, 4)}",
    )
    cal = result.calibration
    table.add_row(
        f"mean user CTR, full groups ({a} / {b})", f"{report.num(cal.mean_ctr[a])} / {report.num(cal.mean_ctr[b])}"
    )
    fair = " – ".join(report.pct(v) for v in cal.ranges["fpr"][::2])
    table.add_row(f"fpr of {cal.resplits:,} fair re-splits (95%)", fair)
    table.add_row("SRM p (group sizes)", report.pval(cal.srm_pvalue))
    table.add_row("calibrated p-value", report.pval(cal.pvalue))
    console.print(table)
    status = result.verdict.status
    console.print(
        Panel(
            report.aa_verdict_text(result, lang),
            title=f"{report.HEADERS.word('verdict', lang)}: {status}",
            border_style=AA_COLORS[status],
        )
    )


def _print_ab(result: ABResult, lang: str) -> None:
    console = Console()
    groups = Table(title=report.T.text("ab_title", lang, t=result.treatment, c=result.control))
    for key in ("group", "users", "zero", "ctr", "ci"):
        groups.add_column(report.HEADERS.word(key, lang), justify="left" if key == "group" else "right")
    boot = result.bootstrap
    for name, group, users, zero, ctr, ci in (
        ("control", result.control, result.users[0], result.zero_view_users[0], result.ctr_control, boot.control_ci),
        (
            "treatment",
            result.treatment,
            result.users[1],
            result.zero_view_users[1],
            result.ctr_treatment,
            boot.treatment_ci,
        ),
    ):
        groups.add_row(
            f"{report.HEADERS.word(name, lang)} ({group})",
            f"{users:,}",
            f"{zero:,}",
            report.num(ctr),
            f"[{report.num(ci[0])}, {report.num(ci[1])}]",
        )
    console.print(groups)
    tests = Table()
    for key in ("test", "statistic", "pvalue", "direction", "significant"):
        tests.add_column(report.HEADERS.word(key, lang), justify="left" if key == "test" else "right")
    for row in report.ab_test_rows(result, lang):
        tests.add_row(*row)
    console.print(tests)
    console.print(
        Panel(
            "\n".join(report.ab_verdict_sentences(result, lang)),
            title=f"{report.HEADERS.word('verdict', lang)}: {result.verdict.recommendation}",
            border_style=VERDICT_COLORS.get(result.verdict.recommendation, "white"),
        )
    )
