"""``feedpulse simulate``: fill (or keep filling, ``--live``) the source tables; ``--report`` checks them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import NoReturn

import typer

from feedpulse.config import local_now, source_database
from feedpulse.experiments.spec import ExperimentSpec, load_experiment
from feedpulse.simulator.anomalies import AnomalySpec, load_anomalies
from feedpulse.simulator.sql import SimulationError, last_day
from feedpulse.specfile import SpecError


def _start(value: str | None, days: int) -> dt.date:
    if value is None:
        return local_now().date() - dt.timedelta(days=days)
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"expected a date like 2026-11-01, got {value!r}", param_hint="--start") from None


def _fail(message: str, code: int = 1) -> NoReturn:
    """One clear line on stderr-like output and a non-zero exit, never a traceback."""
    from rich.console import Console

    Console(stderr=True).print(f"[red]error:[/] {message}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def _spec(path: Path | None, loader, hint: str):  # type: ignore[no-untyped-def]
    if path is None:
        return None
    try:
        return loader(path)
    except SpecError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def simulate_command(
    start: str = typer.Option(
        None, "--start", help="First day (YYYY-MM-DD). Default: today − days, so data ends yesterday."
    ),
    days: int = typer.Option(35, "--days", help="Number of days to generate (replaces them if present)."),
    scale: float = typer.Option(1.0, "--scale", help="User multiplier: 1 ≈ 20k DAU, 0.9M events/day."),
    seed: int = typer.Option(42, "--seed", help="Random seed: same seed ⇒ identical rows."),
    database: str | None = typer.Option(
        None, "--database", help="ClickHouse database for the tables (default: FEEDPULSE_SOURCE_DATABASE or simulator)."
    ),
    anomalies: Path | None = typer.Option(None, "--anomalies", help="YAML file of injected anomalies."),  # noqa: B008
    experiment: Path | None = typer.Option(None, "--experiment", help="YAML file of the A/A and A/B setup."),  # noqa: B008
    live: bool = typer.Option(False, "--live", help="After the range, keep appending today's events."),
    report: bool = typer.Option(
        False, "--report", help="Only measure the range already in the tables against the targets; exit 1 if off."
    ),
) -> None:
    """Fill simulator.feed_actions / message_actions with realistic, deterministic events.

    With --report nothing is generated: the range already in the tables is measured."""
    if days < 1 or days > 3660:
        raise typer.BadParameter(f"must be between 1 and 3660, got {days}", param_hint="--days")
    if not (scale > 0 and scale <= 1000):
        raise typer.BadParameter(f"must be a positive number ≤ 1000, got {scale}", param_hint="--scale")
    if seed < 0:
        raise typer.BadParameter(f"must be ≥ 0, got {seed}", param_hint="--seed")
    first = _start(start, days)
    anomaly_spec: AnomalySpec | None = _spec(anomalies, load_anomalies, "--anomalies")
    experiment_spec: ExperimentSpec | None = _spec(experiment, load_experiment, "--experiment")

    from rich.console import Console

    from feedpulse.clickhouse import get_client
    from feedpulse.simulator.report import failures, measure, measure_shape, render, render_shape
    from feedpulse.simulator.run import SimulationFailed, SimulationInterrupted, one_line, simulate, simulate_live
    from feedpulse.simulator.sql import Context

    try:
        database = database or source_database()
        ctx = Context(database, scale, seed)
        ctx.check_day(first)
        ctx.check_day(last_day(first, days))
    except SimulationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--start") from None
    console = Console()
    try:
        client = get_client()
    except Exception as exc:
        _fail(f"cannot reach ClickHouse: {one_line(exc)}")
    options = dict(
        start=first, days=days, scale=scale, seed=seed, database=database,
        anomalies=anomaly_spec, experiment=experiment_spec,
    )  # fmt: skip
    if report:
        try:
            rows = measure(client, start=first, days=days, scale=scale, database=database)
            shape = measure_shape(client, start=first, days=days, database=database)
        except Exception as exc:
            _fail(f"simulate --report failed: {one_line(exc)}")
        console.print(render(rows))
        console.print(render_shape(shape))
        bad = failures(rows, shape)
        if bad:
            console.print(f"[red]{len(bad)} figure(s) outside their range:[/] {', '.join(bad)}")
            raise typer.Exit(1)
        return
    if live:
        console.print(f"live simulation into {database}: history from {first}, then every 60 s (Ctrl-C stops)")
        try:
            simulate_live(client, **options, progress=True)  # type: ignore[arg-type]
        except SimulationInterrupted as exc:
            _fail(exc.summary(), 130)
        except KeyboardInterrupt:
            console.print("stopped")
        except (SimulationFailed, SimulationError) as exc:
            _fail(exc.summary() if isinstance(exc, SimulationFailed) else str(exc))
        except Exception as exc:
            _fail(f"live simulation failed: {one_line(exc)}")
        return
    try:
        result = simulate(client, **options, progress=True)  # type: ignore[arg-type]
    except SimulationInterrupted as exc:
        _fail(exc.summary(), 130)
    except SimulationFailed as exc:
        _fail(exc.summary())
    except Exception as exc:
        _fail(f"simulate failed before the first day: {one_line(exc)}")
    console.print(
        f"{result.days} days from {first}: {result.feed_rows:,} feed rows, {result.message_rows:,} message rows "
        f"in {result.seconds:.1f} s ({result.events_per_second / 1e6:.2f} M events/s)"
    )
    if result.incomplete_elsewhere:
        shown = ", ".join(str(d) for d in result.incomplete_elsewhere[:5])
        more = " …" if len(result.incomplete_elsewhere) > 5 else ""
        console.print(
            f"[yellow]warning:[/] {len(result.incomplete_elsewhere)} day(s) of {database} outside this range are "
            f"incomplete (a run was cut off): {shown}{more}; re-run them to redo"
        )
