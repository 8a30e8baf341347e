"""``feedpulse alerts silence|silences|unsilence``: mute an alert for a while, list, remove."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from feedpulse.alerts.config import ConfigError, configured_config
from feedpulse.alerts.lifecycle import AlertStore, check_target, silence_duration
from feedpulse.config import local_now


def silence_command(
    target: str = typer.Argument(..., help="METRIC or METRIC:SLICE, e.g. views or views:os:iOS ('*' = all)."),
    duration: str = typer.Option("2h", "--for", help="How long: 30m, 2h, 1d, 1h30m (at most 30d)."),
    comment: str = typer.Option("", "--comment", help="Why (shown in the list)."),
) -> None:
    """Mute notifications of an alert (state is still tracked; a still-firing alert speaks up after).

    The metric must be one of alerts.yaml's metrics and the slice one that is evaluated (``total`` or
    ``DIMENSION:VALUE`` of a configured dimension, with a value the alerting has seen).
    """
    try:
        length = silence_duration(duration)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--for'") from None
    try:
        config = configured_config()
    except ConfigError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    store = AlertStore()
    try:
        _, _, warning = check_target(target, list(config.metrics), config.slices, store.known_slices())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'TARGET'") from None
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    silence = store.add_silence(target, length, now=local_now(), comment=comment)
    typer.echo(f"silence {silence.id}: {target} until {silence.until:%Y-%m-%d %H:%M}")


def silences_command() -> None:
    """List active silences."""
    table = Table("id", "metric", "slice", "until", "comment")
    for s in AlertStore().silences(local_now()):
        table.add_row(str(s.id), s.metric, s.slice or "(all)", f"{s.until:%Y-%m-%d %H:%M}", s.comment)
    Console().print(table)


def unsilence_command(silence_id: int = typer.Argument(..., help="Id from `feedpulse alerts silences`.")) -> None:
    """Remove a silence."""
    if not AlertStore().remove_silence(silence_id):
        typer.echo(f"no silence with id {silence_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"silence {silence_id} removed")


def register(app: typer.Typer) -> None:
    app.command("silence")(silence_command)
    app.command("silences")(silences_command)
    app.command("unsilence")(unsilence_command)
