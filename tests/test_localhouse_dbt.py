"""dbt-clickhouse (driver http), unmodified, against the local endpoint: seed, an incremental
insert_overwrite model re-run twice without duplicates, and dbt test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.dbt]

PROJECT = Path(__file__).parent / "dbt_mini"
DBT = str(Path(sys.executable).parent / "dbt")


def dbt(env: dict[str, str], tmp_path: Path, *args: str) -> str:
    command = [
        DBT,
        *args,
        "--project-dir",
        str(PROJECT),
        "--profiles-dir",
        str(PROJECT),
        "--target-path",
        str(tmp_path / "target"),
    ]
    result = subprocess.run(
        command, env={**env, "DBT_LOG_PATH": str(tmp_path / "logs")}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def state(ch_client) -> list[tuple]:
    return ch_client.query(
        "SELECT event_day, user_id, amount, events FROM dbt_mini.daily_amounts ORDER BY event_day, user_id"
    ).result_rows


def test_seed_incremental_rerun_and_test(ch_client, ch_env, tmp_path):
    ch_client.command("DROP DATABASE IF EXISTS dbt_mini")
    dbt(ch_env, tmp_path, "seed")
    dbt(ch_env, tmp_path, "run")
    full = state(ch_client)
    assert len(full) == 5

    for _ in range(2):
        dbt(ch_env, tmp_path, "run", "--vars", "{day: '2026-01-02'}")
        assert state(ch_client) == full  # the day is replaced row for row, never appended

    # A late event for the day: re-running the day fixes it, the other days are untouched.
    ch_client.command("INSERT INTO dbt_mini.mini_events VALUES (7, 10, '2026-01-02', 10)")
    dbt(ch_env, tmp_path, "run", "--vars", "{day: '2026-01-02'}")
    after = {(str(r[0]), r[1]): r[2] for r in state(ch_client)}
    assert after[("2026-01-02", 10)] == 11
    assert sum(1 for key in after if key[0] == "2026-01-02") == 2
    assert after[("2026-01-01", 10)] == 5

    output = dbt(ch_env, tmp_path, "test")
    assert "PASS=3" in output
