"""Integration tests of the simulator against the session's local ClickHouse endpoint (small scale)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from feedpulse.experiments.spec import parse_experiment
from feedpulse.simulator import simulate, simulate_live
from feedpulse.simulator.anomalies import parse_anomalies
from feedpulse.simulator.cli import simulate_command

pytestmark = pytest.mark.integration

START = dt.date(2026, 11, 2)
DAYS = 3
SCALE = 0.05


def checksum(client, db: str) -> tuple:
    return tuple(
        client.query(f"SELECT count(), sum(cityHash64(*)) FROM {db}.{t}").result_rows[0]
        for t in ("feed_actions", "message_actions")
    )


@pytest.fixture(scope="module")
def base_db(ch_client) -> str:
    simulate(ch_client, start=START, days=DAYS, scale=SCALE, seed=7, database="sim_test_base")
    return "sim_test_base"


def test_schema(ch_client, base_db: str) -> None:
    cols = dict(ch_client.query(f"SELECT name, type FROM system.columns WHERE database = '{base_db}' "
                                "AND table = 'message_actions'").result_rows)  # fmt: skip
    assert cols["reciever_id"] == "UInt32" and cols["exp_group"] == "Int8" and cols["age"] == "Int16"
    feed = dict(ch_client.query(f"SELECT name, type FROM system.columns WHERE database = '{base_db}' "
                                "AND table = 'feed_actions'").result_rows)  # fmt: skip
    assert feed == {
        "user_id": "UInt32", "post_id": "UInt32", "action": "String", "time": "DateTime", "gender": "Int8",
        "age": "Int16", "country": "String", "city": "String", "os": "String", "source": "String",
        "exp_group": "Int8",
    }  # fmt: skip
    days = ch_client.query(f"SELECT uniqExact(toDate(time)), countIf(action NOT IN ('view', 'like')) "
                           f"FROM {base_db}.feed_actions").result_rows[0]  # fmt: skip
    assert days == (DAYS, 0)


def test_deterministic_and_rerun_replaces(ch_client, base_db: str) -> None:
    before = checksum(ch_client, base_db)
    assert before[0][0] > 50_000 and before[1][0] > 500
    simulate(ch_client, start=START, days=DAYS, scale=SCALE, seed=7, database="sim_test_twin")
    assert checksum(ch_client, "sim_test_twin") == before
    simulate(ch_client, start=START + dt.timedelta(days=1), days=1, scale=SCALE, seed=7, database=base_db)
    assert checksum(ch_client, base_db) == before  # the re-run day replaced, not appended
    simulate(ch_client, start=START, days=1, scale=SCALE, seed=8, database="sim_test_twin")
    assert checksum(ch_client, "sim_test_twin") != before


def test_noise_seed_keeps_the_population_and_redraws_behaviour(ch_client, base_db: str) -> None:
    """The evaluation's limit detector averages runs of one population with other noise seeds: the same users
    (ids and every attribute), other days' activity; the noise seed defaults to the seed."""
    simulate(ch_client, start=START, days=DAYS, scale=SCALE, seed=7, database="sim_test_noise", noise_seed=7)
    assert checksum(ch_client, "sim_test_noise") == checksum(ch_client, base_db)
    simulate(ch_client, start=START, days=DAYS, scale=SCALE, seed=7, database="sim_test_noise", noise_seed=1234)
    assert checksum(ch_client, "sim_test_noise") != checksum(ch_client, base_db)
    users = ("SELECT user_id, any(os), any(gender), any(age), any(city), any(source), any(exp_group) "
             "FROM {db}.feed_actions GROUP BY user_id")  # fmt: skip
    base = dict((r[0], r[1:]) for r in ch_client.query(users.format(db=base_db)).result_rows)
    other = dict((r[0], r[1:]) for r in ch_client.query(users.format(db="sim_test_noise")).result_rows)
    common = base.keys() & other.keys()
    assert len(common) > 0.5 * len(base) and base.keys() != other.keys()  # same pool, other active users
    assert all(base[u] == other[u] for u in common)
    views = "SELECT countIf(action = 'view') FROM {db}.feed_actions"
    ratio = ch_client.query(views.format(db="sim_test_noise")).result_rows[0][0] / ch_client.query(
        views.format(db=base_db)).result_rows[0][0]  # fmt: skip
    assert 0.85 < ratio < 1.15


def test_anomaly_changes_only_its_window(ch_client, base_db: str) -> None:
    spec = parse_anomalies([{"name": "drop", "metric": "views", "start": "2026-11-03 10:00",
                             "duration": "4h", "change": -0.4}])  # fmt: skip
    simulate(ch_client, start=START, days=DAYS, scale=SCALE, seed=7, database="sim_test_anom", anomalies=spec)
    sql = ("SELECT countIf(action = 'view' AND time >= '2026-11-03 10:00:00' AND time < '2026-11-03 14:00:00'), "
           "countIf(action = 'view' AND NOT (time >= '2026-11-03 10:00:00' AND time < '2026-11-03 14:00:00')), "
           "countIf(action = 'like') FROM {db}.feed_actions")  # fmt: skip
    inside, outside, likes = ch_client.query(sql.format(db="sim_test_anom")).result_rows[0]
    base_inside, base_outside, base_likes = ch_client.query(sql.format(db=base_db)).result_rows[0]
    assert 0.5 < inside / base_inside < 0.7
    assert (outside, likes) == (base_outside, base_likes)


def test_polarize_spreads_user_ctr(ch_client) -> None:
    exp = parse_experiment({"id": "t", "ab": {"start": str(START), "end": "2026-11-04", "control": 1,
                            "treatment": 2, "effect": {"type": "polarize", "share": 0.5, "up": 1.6}}})  # fmt: skip
    simulate(ch_client, start=START, days=DAYS, scale=SCALE, seed=7, database="sim_test_exp", experiment=exp)
    rows = dict(ch_client.query("""
        SELECT exp_group, stddevPop(likes / views) FROM (
            SELECT user_id, any(exp_group) AS exp_group, countIf(action = 'view') AS views,
                countIf(action = 'like') AS likes
            FROM sim_test_exp.feed_actions GROUP BY user_id HAVING views >= 40)
        GROUP BY exp_group""").result_rows)  # fmt: skip
    assert rows[2] > 1.3 * rows[1]
    assert rows[2] > 1.3 * max(rows[0], rows[3], rows[4])


class FrozenClock:
    """The server clock as the live simulation sees it: pinned, moved on only by the test's ``stop.wait``."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.waits: list[float] = []

    def server_now(self, client) -> dt.datetime:
        return self.now

    def wait(self, timeout: float) -> bool:  # stands in for threading.Event.wait: no real sleep
        self.waits.append(timeout)
        self.now += dt.timedelta(seconds=timeout)
        return False


def test_live_appends_up_to_now(ch_client, monkeypatch) -> None:
    clock = FrozenClock(dt.datetime(2026, 11, 30, 14, 7, 30))
    monkeypatch.setattr("feedpulse.simulator.run.server_now", clock.server_now)
    simulate_live(ch_client, start=clock.now.date() - dt.timedelta(days=1), days=1, scale=0.02, seed=3,
                  database="sim_test_live", anomalies=None, experiment=None, interval_seconds=600,
                  stop=clock, max_iterations=2)  # fmt: skip
    assert clock.waits == [600]  # one wait between the two appends
    first_append = clock.now - dt.timedelta(seconds=600)
    days, future, second = ch_client.query(
        "SELECT uniqExact(toDate(time)), countIf(time > {now:DateTime}), countIf(time > {first:DateTime}) "
        "FROM sim_test_live.feed_actions",
        parameters={"now": clock.now, "first": first_append},
    ).result_rows[0]  # fmt: skip
    assert future == 0 and days == 2  # yesterday in full, today up to the (moved) clock
    assert second > 0  # the second append added the events of the 10 minutes the clock moved
    n = ch_client.query("SELECT count() FROM sim_test_live.feed_actions").result_rows[0][0]
    dup = ch_client.query("SELECT count() FROM (SELECT DISTINCT * FROM sim_test_live.feed_actions)").result_rows[0][0]
    assert n > 0 and dup >= n * 0.99  # appends never repeat a window


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(simulate_command)
    return app


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--days", "0"], "--days"),
        (["--start", "2026-13-01"], "--start"),
        (["--scale", "-1"], "--scale"),
        (["--start", "2020-02-01", "--days", "3"], "too early"),
    ],
)
def test_cli_rejects_bad_options(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 2 and needle in result.output


def test_cli_rejects_bad_spec_file(tmp_path: Path) -> None:
    bad = tmp_path / "a.yaml"
    bad.write_text("- {name: oops, metric: views, start: '2026-11-03 10:00', duration: 1h, change: -3}\n")
    result = CliRunner().invoke(_cli(), ["--anomalies", str(bad)])
    assert result.exit_code == 2 and "change" in result.output and "oops" in result.output
