"""``feedpulse superset setup|start|stop|status|import``: the local Superset and its dashboards."""

from __future__ import annotations

from pathlib import Path

import typer

from feedpulse.superset import home, importer, server

DIRECTORY = typer.Option(home.SPEC_DIR, "--dir", help="The dashboards YAML directory.")
URL = typer.Option(None, "--url", help="Superset's address (default: the local one).")

app = typer.Typer(help="Superset dashboards over the marts (make superset installs Superset).", no_args_is_help=True)


@app.command()
def setup() -> None:
    """Config with a SECRET_KEY made once, metadata database, admin user, roles (safe to re-run)."""
    admin = server.setup()
    typer.echo(f"Superset configured in {home.superset_home()} (admin user {admin.username!r})")
    if admin.generated:
        # Shown once: it is kept, readable only by its owner, in the file named here.
        typer.echo(f"generated admin password (kept in {home.superset_home() / 'admin-password'}): {admin.password}")


@app.command()
def start() -> None:
    """Start Superset in the background on 127.0.0.1:FEEDPULSE_SUPERSET_PORT (default 8088)."""
    typer.echo(server.start().describe())


@app.command()
def stop() -> None:
    """Stop the background Superset."""
    typer.echo("stopped" if server.stop() else "was not running")


@app.command()
def status() -> None:
    """Whether Superset runs and answers /health."""
    typer.echo(server.status().describe())


@app.command("import")
def import_(
    directory: Path = DIRECTORY,
    url: str | None = URL,
) -> None:
    """Import the dashboards YAML (re-import updates; objects removed from the YAML are deleted).
    The database connection comes from CLICKHOUSE_HOST/PORT/USER/PASSWORD/SECURE."""
    result = importer.run(directory, url=url)
    typer.echo(result.describe())
    typer.echo(f"dashboards: {url or home.base_url()}/dashboard/list/")
