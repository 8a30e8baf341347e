"""A small run of ``feedpulse alerts evaluate`` against the session's local ClickHouse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from feedpulse.alerts.cli import app
from feedpulse.alerts.evaluate import run_evaluation
from feedpulse.identifiers import SCRATCH_PREFIX
from feedpulse.scratch import ScratchDatabaseError, scratch_database

pytestmark = pytest.mark.integration

MAGNITUDE_KEYS = {"15", "20", "30", "40", "60"}


def scratch_databases(client) -> set[str]:
    return {row[0] for row in client.query("SHOW DATABASES").result_rows if row[0].startswith(SCRATCH_PREFIX)}


def test_evaluate_json_shape_and_feedpulse_beats_the_rules(ch_client) -> None:
    before = scratch_databases(ch_client)
    args = ["evaluate", "--weeks", "1", "--scale", "0.3", "--warmup-days", "8", "--seed", "3", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report) == ["detectors"]
    assert {"feedpulse", "yesterday_pct", "iqr"} <= set(report["detectors"])
    for summary in report["detectors"].values():
        assert set(summary["recall_by_magnitude"]) == MAGNITUDE_KEYS
        assert all(v is None or 0 <= v <= 1 for v in summary["recall_by_magnitude"].values())
        assert 0 <= summary["precision"] <= 1
        assert summary["false_alerts_per_metric_week"] >= 0
        assert summary["median_delay_buckets"] is None or summary["median_delay_buckets"] >= 0
    f1 = {name: s["f1"] for name, s in report["detectors"].items()}
    assert f1["feedpulse"] > f1["yesterday_pct"] and f1["feedpulse"] > f1["iqr"], f1
    assert scratch_databases(ch_client) == before  # its own scratch database was dropped


def sentinel(client, database: str) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(f"CREATE TABLE IF NOT EXISTS {database}.sentinel (x UInt8) ENGINE = MergeTree ORDER BY x")
    client.command(f"INSERT INTO {database}.sentinel VALUES (1), (2)")


def sentinel_rows(client, database: str) -> int:
    return client.query(f"SELECT count() FROM {database}.sentinel").result_rows[0][0]


@pytest.mark.parametrize("database", ["test", "analytics", "simulator", "default", "system"])
def test_evaluate_refuses_existing_and_feedpulse_databases(ch_client, database: str) -> None:
    """`evaluate --database test` used to simulate into `test` and drop it (the final table with it), exit 0."""
    if database != "system":
        sentinel(ch_client, database)
        rows = sentinel_rows(ch_client, database)
    try:
        result = CliRunner().invoke(app, ["evaluate", "--weeks", "1", "--database", database])
        assert result.exit_code == 2, result.output
        assert "must start with 'feedpulse_scratch_'" in result.output
        if database != "system":
            assert sentinel_rows(ch_client, database) == rows  # untouched
        with pytest.raises(ScratchDatabaseError):  # the library refuses too, before any SQL
            run_evaluation(ch_client, weeks=1, database=database)
    finally:
        if database != "system":
            ch_client.command(f"DROP TABLE IF EXISTS {database}.sentinel")


def test_an_existing_scratch_name_is_refused_and_kept(ch_client, monkeypatch) -> None:
    existing = f"{SCRATCH_PREFIX}already_there"
    sentinel(ch_client, existing)
    try:
        result = CliRunner().invoke(app, ["evaluate", "--weeks", "1", "--database", existing])
        assert result.exit_code == 2 and "exists already" in result.output, result.output
        assert sentinel_rows(ch_client, existing) == 2
        # created concurrently between the check and CREATE DATABASE: ClickHouse refuses, nothing is dropped
        monkeypatch.setattr("feedpulse.scratch.database_exists", lambda client, name: False)
        with pytest.raises(ScratchDatabaseError, match="cannot create"):
            with scratch_database(ch_client, existing):
                pytest.fail("must not get a database that exists")
        assert sentinel_rows(ch_client, existing) == 2
    finally:
        ch_client.command(f"DROP DATABASE IF EXISTS {existing}")


def test_scratch_database_is_new_and_dropped_even_on_error(ch_client) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with scratch_database(ch_client) as name:
            assert name.startswith(SCRATCH_PREFIX) and len(name) == len(SCRATCH_PREFIX) + 32
            assert name in scratch_databases(ch_client)
            raise RuntimeError("boom")
    assert name not in scratch_databases(ch_client)
    with scratch_database(ch_client, keep=True) as kept:
        pass
    assert kept in scratch_databases(ch_client)
    ch_client.command(f"DROP DATABASE {kept}")


def test_per_user_metrics_get_the_users_series_and_keep_their_own_ground_truth() -> None:
    from feedpulse.alerts.config import parse_config
    from feedpulse.alerts.evaluate import _injected_users, build_streams, plan_and_inject

    days, per_day = 21, 96
    index = pd.date_range("2024-03-04", periods=days * per_day, freq="15min")
    rng = np.random.default_rng(0)
    users = rng.poisson(500, len(index)).astype(float)
    frame = pd.DataFrame(
        {"feed_users": users, "views": rng.poisson(10 * users).astype(float)},
        index=pd.MultiIndex.from_product([index, ["total"]], names=["bucket", "slice"]),
    )
    config = parse_config({"metrics": {"feed_users": {}, "views": {"per_user_of": "feed_users"}}})
    streams = build_streams(frame, config)
    plan_and_inject(streams, 14 * per_day, 8, seed=1)
    feed, views = streams
    assert feed.users is None and views.users is not None
    assert views.users.equals(feed.clean)  # the clean run sees the clean users
    assert _injected_users(views, streams, config) is feed.injected  # the injected run: users' own anomalies
    # views anomalies change views only; feed_users differ from clean only inside feed_users' own events
    changed = ~np.isclose(feed.injected.to_numpy(), feed.clean.to_numpy(), equal_nan=True)
    own = np.zeros(len(changed), dtype=bool)
    for event in feed.events:
        own[14 * per_day + event.start : 14 * per_day + event.end + 1] = True
    assert not (changed & ~own).any()
    assert all(e.metric == "views" for e in views.events) and all(e.metric == "feed_users" for e in feed.events)
