"""``feedpulse alerts silence|silences|unsilence``: mute an alert for a while, list, remove."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from feedpulse.alerts.lifecycle import AlertStore, parse_duration, parse_matcher
from feedpulse.config import local_now


def silence_command(
    target: str = typer.Argument(..., help="METRIC or METRIC:SLICE, e.g. views or views:os:iOS ('*' = all)."),
    duration: str = typer.Option("2h", "--for", help="How long: 30m, 2h, 1d."),
    comment: str = typer.Option("", "--comment", help="Why (shown in the list)."),
) -> None:
    """Mute notifications of an alert (state is still tracked; a still-firing alert speaks up after)."""
    try:
        parse_matcher(target)
        length = parse_duration(duration)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    silence = AlertStore().add_silence(target, length, now=local_now(), comment=comment)
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
