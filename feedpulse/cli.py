"""The ``feedpulse`` command line (typer): one sub-command group per part of the product."""

from __future__ import annotations

import typer

from feedpulse.alerts.cli import app as alerts_app
from feedpulse.alerts.silence_cli import register as register_silences
from feedpulse.doctor import doctor_command
from feedpulse.experiments.cli import app as experiment_app
from feedpulse.localhouse.cli import app as localhouse_app
from feedpulse.simulator.cli import simulate_command
from feedpulse.superset.cli import app as superset_app

app = typer.Typer(
    help="feedpulse: product analytics for a news-feed + messenger app on ClickHouse.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(localhouse_app, name="localhouse")
app.command("simulate", help="Fill the source event tables with realistic simulated data.")(simulate_command)
app.add_typer(experiment_app, name="experiment", help="A/A test of the splitting system and A/B analysis of CTR.")
register_silences(alerts_app)
app.add_typer(alerts_app, name="alerts", help="15-minute anomaly alerts: evaluate the detector, silences.")
app.add_typer(superset_app, name="superset", help="Superset dashboards over the marts: setup, start, stop, import.")
app.command(
    "doctor",
    help="Check the environment: ClickHouse connection, version, permissions, source tables, Telegram, chromium, dbt.",
)(doctor_command)


if __name__ == "__main__":
    app()
