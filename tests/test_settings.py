"""Settings in one place: no module reads the environment on its own, importing the Dagster
definitions starts nothing, and the daily partitions start on a fixed day whatever the date."""

from __future__ import annotations

import ast
import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import time_machine

from feedpulse.config import Settings
from feedpulse.etl import PartitionSettings, first_source_day

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_MODULE = ROOT / "feedpulse" / "config.py"


def _environment_reads(path: Path) -> list[str]:
    """``os.environ``/``os.getenv`` uses other than assigning one variable (``os.environ["TZ"] = …``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    writes = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
    }
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in {"environ", "environb", "getenv", "putenv"}
            and id(node) not in writes
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_module_outside_the_settings_module_reads_the_environment():
    modules = [*(ROOT / "feedpulse").rglob("*.py"), *(ROOT / "orchestration").rglob("*.py")]
    reads = [hit for path in modules if path != SETTINGS_MODULE for hit in _environment_reads(path)]
    assert reads == [], "read settings through feedpulse.config instead"


# Imports the definitions with every subprocess start refused (and recorded): a dbt parse, or any
# other command, at import would show up in `started` or as the RuntimeError.
IMPORT_PROBE = textwrap.dedent(
    """
    import subprocess, os
    import dagster, dagster_dbt  # their own import-time probes (croniter runs `file`) are not ours
    started = []
    real = subprocess.Popen.__init__
    def record(self, args, *rest, **kwargs):
        started.append(args)
        raise RuntimeError(f"subprocess at import: {args}")
    subprocess.Popen.__init__ = record
    os.posix_spawn = os.posix_spawnp = lambda *a, **k: started.append(a)
    import orchestration.definitions
    print("started:", started)
    """
)


def _import_definitions(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """The probe, with none of feedpulse's or ClickHouse's variables but ``env`` (and not under `dagster dev`)."""
    skipped = ("FEEDPULSE_", "CLICKHOUSE_", "DAGSTER_IS_DEV_CLI")
    base = {key: value for key, value in os.environ.items() if not key.startswith(skipped)}
    base.update(
        FEEDPULSE_HOME=str(tmp_path),
        FEEDPULSE_START_DATE="2026-09-01",
        CLICKHOUSE_PORT="1",  # nothing may connect either
    )
    return subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_importing_the_definitions_starts_no_subprocess(tmp_path: Path):
    result = _import_definitions(tmp_path)  # the manifest `make manifest` prepared for the default source
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("started: []")


def test_without_a_prepared_manifest_the_import_fails_naming_the_build_step(tmp_path: Path):
    result = _import_definitions(tmp_path, FEEDPULSE_DBT_MANIFEST_DIR=str(tmp_path / "no_manifest"))
    assert result.returncode != 0
    assert "subprocess at import" not in result.stderr  # no hidden dbt parse
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("orchestration.manifest.ManifestError: Dagster's dbt manifest"), last_line
    assert "is missing" in last_line and "`make manifest`" in last_line


@pytest.mark.parametrize("today", [dt.date(2026, 9, 2), dt.date(2026, 11, 30), dt.date(2027, 6, 1)])
def test_partitions_start_on_the_first_source_day_whatever_the_date(ch_client, today):
    database = "settings_first_day"
    ch_client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    ch_client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.feed_actions (user_id UInt32, action String, time DateTime) "
        "ENGINE = MergeTree PARTITION BY toDate(time) ORDER BY time"
    )
    ch_client.command(f"TRUNCATE TABLE {database}.feed_actions")
    assert first_source_day(ch_client, database) is None  # empty: no first day
    ch_client.insert(
        f"{database}.feed_actions",
        [[1, "view", dt.datetime(2026, 9, 1, 0, 5)], [2, "like", dt.datetime(2026, 9, 3, 12)]],
        column_names=["user_id", "action", "time"],
    )
    unset = Settings.from_env({"FEEDPULSE_SOURCE_DATABASE": database})
    pinned = Settings.from_env({"FEEDPULSE_SOURCE_DATABASE": database, "FEEDPULSE_START_DATE": "2026-09-02"})
    with time_machine.travel(dt.datetime.combine(today, dt.time(12)), tick=False):
        assert PartitionSettings.resolve(lambda: first_source_day(ch_client, database), unset).start_date == dt.date(
            2026, 9, 1
        )
        assert PartitionSettings.resolve(lambda: first_source_day(ch_client, database), pinned).start_date == dt.date(
            2026, 9, 2
        )


def test_first_source_day_of_a_missing_table_is_none(ch_client):
    assert first_source_day(ch_client, "settings_no_such_database") is None
