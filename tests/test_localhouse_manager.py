"""The CLI manages a background endpoint whose data survives restarts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import clickhouse_connect
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration
FEEDPULSE = str(Path(sys.executable).parent / "feedpulse")


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([FEEDPULSE, "localhouse", *args], env=env, capture_output=True, text=True, timeout=120)


def test_start_status_stop_and_data_persists(tmp_path):
    port = free_port()
    env = {**os.environ, "FEEDPULSE_HOME": str(tmp_path), "CLICKHOUSE_PORT": str(port), "CLICKHOUSE_PASSWORD": ""}
    env.pop("CLICKHOUSE_HOST", None)
    try:
        assert run(env, "status").returncode == 1
        started = run(env, "start")
        assert started.returncode == 0, started.stderr
        assert f":{port}" in started.stdout
        assert run(env, "start").returncode == 0  # already running: no-op
        client = clickhouse_connect.get_client(port=port)
        client.command("CREATE TABLE kept (x UInt8) ENGINE = MergeTree ORDER BY x")
        client.command("INSERT INTO kept VALUES (7)")
        assert run(env, "stop").stdout.strip() == "stopped"
        assert run(env, "status").returncode == 1

        assert run(env, "start").returncode == 0
        assert clickhouse_connect.get_client(port=port).command("SELECT x FROM kept") == 7
        assert (tmp_path / "clickhouse").is_dir()
        assert (tmp_path / "localhouse" / "localhouse.log").exists()
    finally:
        run(env, "stop")


def test_port_taken_by_another_server_is_reported(localhouse, tmp_path):
    env = {**os.environ, "FEEDPULSE_HOME": str(tmp_path), "CLICKHOUSE_PORT": str(localhouse.port)}
    result = run(env, "start")
    assert result.returncode == 1
    assert "something else already answers" in result.stderr
