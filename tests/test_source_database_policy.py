"""`source_database` is checked at every boundary with the one identifier policy (issue 12).

A value that escapes dbt-clickhouse's backtick quoting, given as the dbt var or in the Dagster
launchpad, used to run DROP TABLE. Now the settings, the Dagster run config and dbt (every
`source()`) reject it before any SQL runs: a canary table survives and the error names the value.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from feedpulse.identifiers import IDENTIFIER_PATTERN

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
DBT = str(Path(sys.executable).parent / "dbt")
CANARY = "policy_canary.keep_me"
HOSTILE = f"simulator`.feed_actions; DROP TABLE {CANARY}; SELECT 1 FROM `x"


def test_the_dbt_macro_applies_the_same_pattern():
    macro = (PROJECT / "macros" / "identifiers.sql").read_text()
    [pattern] = re.findall(r"identifier_pattern\(\) %\}\{\{ return\('([^']+)'\) \}\}", macro)
    assert pattern == IDENTIFIER_PATTERN


def test_settings_reject_a_hostile_source_database():
    from feedpulse.config import SettingsError, settings

    assert settings({}).source_database == "simulator"
    assert settings({"FEEDPULSE_SOURCE_DATABASE": " events "}).source_database == "events"
    with pytest.raises(SettingsError, match="FEEDPULSE_SOURCE_DATABASE"):
        settings({"FEEDPULSE_SOURCE_DATABASE": HOSTILE})


def test_run_config_rejects_a_hostile_source_database():
    from orchestration.dbt import DailyEtlConfig

    assert DailyEtlConfig(source_database="events").source_database == "events"
    assert DailyEtlConfig().source_database == ""
    with pytest.raises(ValueError, match="source_database must be a plain identifier"):
        DailyEtlConfig(source_database=HOSTILE)


@pytest.fixture
def canary(ch_client):
    ch_client.command("CREATE DATABASE IF NOT EXISTS policy_canary")
    ch_client.command(f"CREATE TABLE IF NOT EXISTS {CANARY} (x UInt8) ENGINE = MergeTree ORDER BY x")
    yield ch_client
    ch_client.command("DROP DATABASE IF EXISTS policy_canary")


@pytest.mark.integration
@pytest.mark.dbt
def test_dbt_var_is_rejected_before_any_sql(canary, ch_env, tmp_path):
    variables = {"start_date": "2026-10-01", "end_date": "2026-10-02", "source_database": HOSTILE}
    result = subprocess.run(
        [DBT, "run", "--select", "staging", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
         "--vars", json.dumps(variables)],
        env=ch_env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "source_database (var source_database or FEEDPULSE_SOURCE_DATABASE) must be a plain identifier" in (
        result.stdout
    )
    assert canary.command(f"EXISTS TABLE {CANARY}") == 1
    run_results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    # The project's on-run-start hook (stale temporary relations, no source name in it) runs before the models;
    # every model that would read the source fails at compilation, with no statement sent.
    models = [r for r in run_results if r["unique_id"].startswith("model.")]
    others = {r["unique_id"] for r in run_results} - {r["unique_id"] for r in models}
    assert all(".on-run-start" in uid or "on-run-start" in uid for uid in others), others
    assert models and all(r["status"] == "error" and not r["adapter_response"] for r in models)


@pytest.mark.integration
@pytest.mark.dbt
def test_launchpad_value_is_rejected_before_dbt_runs(canary):
    from dagster import DagsterInstance, materialize

    from orchestration.dbt import daily_etl_assets, daily_partitions
    from orchestration.definitions import defs

    result = materialize(
        [daily_etl_assets],
        partition_key=daily_partitions.get_first_partition_key(),
        instance=DagsterInstance.ephemeral(),
        resources={"dbt": defs.resources["dbt"], "clickhouse": defs.resources["clickhouse"]},
        run_config={"ops": {"daily_etl": {"config": {"source_database": HOSTILE}}}},
        raise_on_error=False,
    )
    assert not result.success
    errors = " ".join(str(e.event_specific_data) for e in result.all_events if e.is_failure)
    assert "source_database must be a plain identifier" in errors
    assert not any("dbt build" in (e.message or "") for e in result.all_events)
    assert canary.command(f"EXISTS TABLE {CANARY}") == 1
