"""Issue 12, simulate items: a killed run never leaves a day that looks complete, one-line errors,
dates outside ClickHouse's DateTime range are rejected."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import typer
from typer.testing import CliRunner

from feedpulse.simulator import SimulationError, simulate
from feedpulse.simulator.cli import simulate_command
from feedpulse.simulator.run import SimulationFailed, incomplete_days
from tests.conftest import free_port

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 5)
DAYS = 4
SCALE = 0.1
SEED = 5


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(simulate_command)
    return app


def flat(output: str) -> str:
    """CLI output without rich's box drawing and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def per_day(client, db: str) -> dict[dt.date, tuple[int, int, int, int]]:
    """day → (feed rows, feed checksum, message rows, message checksum)."""
    out: dict[dt.date, list[int]] = {}
    for i, table in enumerate(("feed_actions", "message_actions")):
        rows = client.query(
            f"SELECT toDate(time) AS day, count(), sum(cityHash64(*)) FROM {db}.{table} GROUP BY day"
        ).result_rows
        for day, n, h in rows:
            out.setdefault(day, [0, 0, 0, 0])[2 * i : 2 * i + 2] = [int(n), int(h)]
    return {day: tuple(v) for day, v in out.items()}  # type: ignore[misc]


def latest_marks(client, db: str) -> dict[dt.date, int]:
    rows = client.query(f"SELECT day, argMax(complete, at) FROM {db}.simulated_days GROUP BY day").result_rows
    return {day: int(c) for day, c in rows}


def _command(db: str) -> list[str]:
    return [
        sys.executable, "-m", "feedpulse.cli", "simulate", "--start", str(START), "--days", str(DAYS),
        "--scale", str(SCALE), "--seed", str(SEED), "--database", db,
    ]  # fmt: skip


def _wait_for_day_complete(client, db: str, day: dt.date, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the simulate run ended before it could be killed"
        exists = client.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'simulated_days'",
            parameters={"db": db},
        ).result_rows[0][0]
        if exists and latest_marks(client, db).get(day) == 1:
            return
        time.sleep(0.02)
    raise AssertionError(f"day {day} never completed")


def test_sigkill_mid_run_then_rerun_completes_the_day(ch_client, ch_env) -> None:
    reference = "sim_rel_reference"
    simulate(ch_client, start=START, days=DAYS, scale=SCALE, seed=SEED, database=reference)
    expected = per_day(ch_client, reference)
    assert len(expected) == DAYS and all(v[0] > 0 and v[2] > 0 for v in expected.values())

    db = "sim_rel_killed"
    cut = START + dt.timedelta(days=2)
    process = subprocess.Popen(_command(db), env=ch_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_day_complete(ch_client, db, cut - dt.timedelta(days=1), process)  # `cut` is being generated
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    time.sleep(1.0)  # the server finishes (or drops) the killed client's last statement

    marks = latest_marks(ch_client, db)
    found = per_day(ch_client, db)
    assert START + dt.timedelta(days=DAYS - 1) in incomplete_days(ch_client, db), "unfinished days are marked"
    for day, (feed, _fh, messages, _mh) in found.items():
        if feed and not messages:  # the old fault: feed rows, no message rows
            assert marks.get(day) == 0, f"{day} has feed rows and no message rows but is marked complete"
    for day, state in marks.items():
        if state == 1:  # a day marked complete holds exactly the uninterrupted run's rows
            assert found.get(day) == expected[day]
    assert all(marks.get(START + dt.timedelta(days=i)) == 1 for i in range(2))

    rerun = subprocess.run(_command(db), env=ch_env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert per_day(ch_client, db) == expected
    assert incomplete_days(ch_client, db) == []
    leftovers = ch_client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name LIKE '%simulating%'",
        parameters={"db": db},
    ).result_rows[0][0]
    assert leftovers == 0


def test_failure_mid_run_is_one_line_and_marks_the_day(ch_client) -> None:
    db = "sim_rel_badschema"
    ch_client.command(f"DROP DATABASE IF EXISTS {db}")
    ch_client.command(f"CREATE DATABASE {db}")
    ch_client.command(  # an incompatible feed table: the generated rows cannot be inserted
        f"CREATE TABLE {db}.feed_actions (user_id UInt32, time DateTime) ENGINE = MergeTree "
        "PARTITION BY toDate(time) ORDER BY time"
    )
    with pytest.raises(SimulationFailed) as err:
        simulate(ch_client, start=START, days=2, scale=0.02, seed=1, database=db)
    assert err.value.day == START and "no day was completed" in err.value.summary()
    assert incomplete_days(ch_client, db) == [START, START + dt.timedelta(days=1)]  # the range is not done

    result = CliRunner().invoke(_cli(), ["--start", str(START), "--days", "2", "--scale", "0.02", "--database", db])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith(f"error: simulate failed on {START}"), result.output


def test_unreachable_server_is_one_line() -> None:
    env = {"CLICKHOUSE_HOST": "127.0.0.1", "CLICKHOUSE_PORT": str(free_port())}
    result = CliRunner().invoke(_cli(), ["--start", str(START), "--days", "1", "--scale", "0.02"], env=env)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "2299-01-01", "--days", "1"],
        ["--start", "9999-12-31", "--days", "35"],
        ["--start", "2106-02-06", "--days", "1"],
        ["--start", "2106-01-20", "--days", "30"],  # starts inside, ends outside
    ],
)
def test_dates_outside_datetime_range_are_rejected(args: list[str]) -> None:
    result = CliRunner().invoke(_cli(), [*args, "--scale", "0.02", "--database", "sim_rel_range"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "ClickHouse's DateTime range" in flat(result.output)
    assert "2106-02-05" in flat(result.output)


def test_library_rejects_out_of_range_before_writing(ch_client) -> None:
    with pytest.raises(SimulationError, match="DateTime range"):
        simulate(ch_client, start=dt.date(2299, 1, 1), days=1, scale=0.02, database="sim_rel_range")
    assert not ch_client.query("SELECT count() FROM system.databases WHERE name = 'sim_rel_range'").result_rows[0][0]


def test_last_day_in_range_is_written_with_its_own_date(ch_client) -> None:
    last = dt.date(2106, 2, 5)
    simulate(ch_client, start=last, days=1, scale=0.01, seed=2, database="sim_rel_last")
    days = ch_client.query("SELECT DISTINCT toDate(time) FROM sim_rel_last.feed_actions").result_rows
    assert days == [(last,)]
