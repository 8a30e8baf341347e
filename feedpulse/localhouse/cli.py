"""``feedpulse localhouse serve|start|stop|status``."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import typer

from feedpulse.config import ClickHouseSettings, settings
from feedpulse.localhouse import manager

app = typer.Typer(help="The local ClickHouse endpoint (chDB behind ClickHouse's HTTP interface).", no_args_is_help=True)

HOST = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default).")
PORT = typer.Option(None, "--port", help="Port (default: CLICKHOUSE_PORT or 8123).", min=1, max=65535)
PATH = typer.Option(None, "--path", help="Data directory (default: $FEEDPULSE_HOME/clickhouse).")


def _port(port: int | None) -> int:
    return port or ClickHouseSettings.from_env().port


@app.command()
def serve(
    host: str = HOST,
    port: int | None = PORT,
    path: Path | None = PATH,
    timezone: str = typer.Option(
        None, "--timezone", help="Server timezone (default: FEEDPULSE_TIMEZONE or Europe/Moscow)."
    ),
    log_level: str = typer.Option("warning", "--log-level", help="debug, info, warning, error."),
    header_timeout: float = typer.Option(30.0, "--header-timeout", help="Seconds a request's headers may take."),
    receive_timeout: float = typer.Option(
        30.0, "--receive-timeout", help="Seconds between two pieces of a request body (then Code 209)."
    ),
    keep_alive_timeout: float = typer.Option(30.0, "--keep-alive-timeout", help="Idle keep-alive seconds."),
    max_connections: int = typer.Option(
        4096, "--max-connections", min=16, help="Open connections; past it the oldest idle ones are closed."
    ),
    allow_remote_without_password: bool = typer.Option(
        False,
        "--allow-remote-without-password",
        help="Listen on a non-loopback address with an empty password (refused otherwise).",
    ),
) -> None:
    """Run the endpoint in the foreground (Ctrl-C stops it)."""
    # The engine reads the server timezone from TZ when it starts: set it before chDB loads.
    os.environ["TZ"] = timezone or settings().timezone
    time.tzset()
    from feedpulse.localhouse.server import ServerConfig
    from feedpulse.localhouse.server import serve as run

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    clickhouse = ClickHouseSettings.from_env()
    config = ServerConfig(
        path=(path or manager.default_data_path()).resolve(),
        host=host,
        port=_port(port),
        user=clickhouse.user,
        password=clickhouse.password,
        allow_remote_without_password=allow_remote_without_password,
        header_timeout=header_timeout,
        receive_timeout=receive_timeout,
        keep_alive_timeout=keep_alive_timeout,
        max_connections=max_connections,
    )
    config.check_exposure()
    typer.echo(f"feedpulse localhouse: http://{config.host}:{config.port}, data in {config.path}", err=True)
    run(config, log_level=log_level)


@app.command()
def start(host: str = HOST, port: int | None = PORT, path: Path | None = PATH) -> None:
    """Start the endpoint in the background (no-op if it already runs)."""
    try:
        current = manager.start(host=host, port=_port(port), path=path)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(current.describe())


@app.command()
def stop() -> None:
    """Stop the background endpoint."""
    typer.echo("stopped" if manager.stop() else "not running")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Show whether the endpoint runs and answers /ping (exit 1 if not)."""
    current = manager.status()
    typer.echo(manager.status_json() if as_json else current.describe())
    if not current.healthy:
        raise typer.Exit(1)
