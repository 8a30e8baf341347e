"""Experiments end to end on the simulator's experiment: an A/A week, then an A/B week in which
group 2 polarises CTR (some users up, others down, the mean barely moves). The simulated days go
through the daily ETL first: experiments read the ETL's user_daily, as the reports do."""

from __future__ import annotations

import datetime as dt

import pytest

from feedpulse.experiments.spec import AAWindow, ABWindow, Effect, ExperimentSpec
from tests.conftest import DATA_TODAY

pytestmark = [pytest.mark.integration, pytest.mark.dbt]

DATABASE = "exp_sim"
FIRST = DATA_TODAY - dt.timedelta(days=70)
SPEC = ExperimentSpec(
    id="feed-ranking-test",
    groups=5,
    aa=AAWindow(FIRST, FIRST + dt.timedelta(days=6), (2, 3)),
    ab=ABWindow(
        FIRST + dt.timedelta(days=7), FIRST + dt.timedelta(days=13), 1, 2, Effect("polarize", share=0.5, up=1.5)
    ),
)


def fake_png(figure) -> bytes:
    return b"\x89PNG fake " + figure.layout.title.text.encode() if figure.layout.title.text else b"\x89PNG"


@pytest.fixture(scope="module")
def experiment_data(ch_client, dbt_cli):
    from feedpulse.simulator import simulate

    for database in ("analytics", "test"):
        ch_client.command(f"DROP DATABASE IF EXISTS {database}")
    simulate(ch_client, start=FIRST, days=14, scale=0.25, seed=5, database=DATABASE, experiment=SPEC)
    window = {"start_date": FIRST.isoformat(), "end_date": (FIRST + dt.timedelta(days=14)).isoformat()}
    dbt_cli({**window, "source_database": DATABASE}, "--exclude", "metrics_15min")
    yield ch_client
    for database in ("analytics", "test"):
        ch_client.command(f"DROP DATABASE IF EXISTS {database}")


def test_aa_week_says_the_split_works(experiment_data):
    from feedpulse.experiments.pipeline import run_aa_experiment

    report = run_aa_experiment(experiment_data, SPEC, render=fake_png, lang="en")
    # Issue 11: on this fair split (≈ 2 k users per group) the 500-user draws give fpr ≈ 3 % and
    # KS p ≈ 1e-28, which the old fixed tolerances called "broken"; fair re-splits of the same users agree.
    assert report.result.verdict.status == "works", report.markdown
    assert 0.02 <= report.result.fpr <= 0.07
    low, _, high = report.result.calibration.ranges["fpr"]
    assert low <= report.result.fpr <= high
    verdict_text = report.markdown.split("## Verdict")[1]
    assert verdict_text.strip().startswith("A/A works") and "broken" not in report.html
    assert report.name == "aa_test_feed_ranking_test"


def test_ab_week_flags_the_split_distribution_and_advises_against(experiment_data):
    from feedpulse.experiments.pipeline import run_ab_experiment

    report = run_ab_experiment(experiment_data, SPEC, render=fake_png, lang="en")
    verdict = report.result.verdict
    assert verdict.polarization
    assert verdict.recommendation == "do not roll out"
    assert abs(verdict.effect) < 0.1  # the mean CTR barely moves...
    assert "polar" in report.markdown.lower()  # ...and the report says the distribution split


def test_experiment_assets_report_to_the_outbox(experiment_data, monkeypatch):
    from dagster import DagsterInstance, materialize

    from feedpulse.config import feedpulse_home
    from orchestration.definitions import defs  # loaded with the default source database
    from orchestration.experiments import experiment_assets

    monkeypatch.setenv("FEEDPULSE_SOURCE_DATABASE", DATABASE)
    assets = experiment_assets([SPEC])
    assert {a.key.path[-1] for a in assets} == {"aa_test_feed_ranking_test", "ab_test_feed_ranking_test"}
    result = materialize(
        assets, instance=DagsterInstance.ephemeral(), resources={"clickhouse": defs.resources["clickhouse"]}
    )
    assert result.success
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        assert "data:image/png;base64," in metadata["report"].value
        assert metadata["destination"].value == "outbox"
    outbox = feedpulse_home() / "outbox" / SPEC.ab.end.isoformat() / "ab_test_feed_ranking_test"
    assert (outbox / "manifest.json").exists()
