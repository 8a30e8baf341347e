"""Shared fixtures: one local ClickHouse endpoint for the whole test session, and the suite's pinned dates.

The endpoint runs with its own FEEDPULSE_HOME, a free port and a password, so the suite never
touches a developer's data and authentication is exercised on every request.

No test depends on today's date: tests that build data date it from ``DATA_TODAY`` (never from the
clock), and ``FEEDPULSE_START_DATE`` pins the start of Dagster's daily partitions (by default the first
day in the source tables) to ``PARTITIONS_START``, before any test module imports ``orchestration`` — so
importing the definitions neither depends on the calendar nor asks a ClickHouse server. The suite
passes with the clock moved months ahead (README, "Tests").
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator

import pytest

from feedpulse.config import ClickHouseSettings

TEST_PASSWORD = "feedpulse-test-secret"
DATA_TODAY = dt.date(2026, 11, 30)  # the "today" the tests' data are dated from
PARTITIONS_START = DATA_TODAY - dt.timedelta(days=90)  # first Dagster daily partition in tests

# Set at import (conftest is imported before the test modules): orchestration.dbt reads it when imported.
os.environ["FEEDPULSE_START_DATE"] = PARTITIONS_START.isoformat()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def localhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseSettings]:
    """Start the local endpoint once per test session; yields the settings to reach it."""
    from feedpulse.localhouse import manager

    home = tmp_path_factory.mktemp("feedpulse_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEEDPULSE_HOME", str(home))
        patch.setenv("CLICKHOUSE_PORT", str(free_port()))
        patch.setenv("CLICKHOUSE_PASSWORD", TEST_PASSWORD)
        patch.setenv("CLICKHOUSE_USER", "default")
        patch.delenv("CLICKHOUSE_HOST", raising=False)
        patch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
        settings = ClickHouseSettings.from_env()
        manager.start(host=settings.host, port=settings.port)
        try:
            yield settings
        finally:
            manager.stop()


@pytest.fixture(scope="session")
def ch_client(localhouse: ClickHouseSettings):
    """A clickhouse-connect client to the session's local endpoint."""
    from feedpulse.clickhouse import get_client

    client = get_client(settings=localhouse)
    yield client
    client.close()


@pytest.fixture
def ch_env(localhouse: ClickHouseSettings) -> dict[str, str]:
    """Environment for subprocesses (dbt, the CLI) that must reach the session's endpoint."""
    env = dict(os.environ)
    env.update(
        FEEDPULSE_HOME=os.environ["FEEDPULSE_HOME"],
        CLICKHOUSE_PORT=str(localhouse.port),
        CLICKHOUSE_PASSWORD=localhouse.password,
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DO_NOT_TRACK="1",
    )
    env.pop("CLICKHOUSE_HOST", None)
    return env


# --- PostgreSQL (the production Dagster instance's storage) -------------------------------------

DEFAULT_TEST_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_server():
    """The PostgreSQL server of FEEDPULSE_TEST_POSTGRES_DSN (default: the local one).

    Tests that need it are skipped, with the reason, when it does not answer — unless
    FEEDPULSE_REQUIRE_POSTGRES is set (CI sets it), which turns the skip into a failure.
    """
    from tests.dagster_stack import PostgresServer

    dsn = os.environ.get("FEEDPULSE_TEST_POSTGRES_DSN") or DEFAULT_TEST_POSTGRES_DSN
    server = PostgresServer.from_dsn(dsn)
    try:
        server.connect().close()
    except Exception as error:  # psycopg2.OperationalError, or psycopg2 missing
        reason = (
            f"PostgreSQL does not answer at {server.address} (FEEDPULSE_TEST_POSTGRES_DSN): "
            f"{str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}"
        )
        if (os.environ.get("FEEDPULSE_REQUIRE_POSTGRES") or "").strip().lower() in {"1", "true", "yes", "on"}:
            pytest.fail(f"{reason} — and FEEDPULSE_REQUIRE_POSTGRES is set", pytrace=False)
        pytest.skip(reason)
    return server


@pytest.fixture(scope="module")
def dbt_cli(localhouse: ClickHouseSettings, tmp_path_factory: pytest.TempPathFactory):
    """Run the project's dbt (``run`` by default) against the session's endpoint with its own
    target path; fails the test with dbt's output unless it succeeds (``check=False`` returns it)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    project = Path(__file__).resolve().parents[1] / "dbt_project"
    dbt = str(Path(sys.executable).parent / "dbt")
    target = tmp_path_factory.mktemp("dbt_target")
    env = dict(os.environ)
    env.update(
        CLICKHOUSE_PORT=str(localhouse.port),
        CLICKHOUSE_PASSWORD=localhouse.password,
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DO_NOT_TRACK="1",
    )
    env.pop("CLICKHOUSE_HOST", None)

    def run(variables: dict[str, object], *args: str, command: str = "run", check: bool = True):
        places = ["--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(target)]
        argv = [dbt, command, *args, *places, "--log-path", str(target / "logs"), "--vars", json.dumps(variables)]
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if check:
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result

    return run
