"""A small run of ``feedpulse alerts evaluate`` against the session's local ClickHouse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from feedpulse.alerts.cli import app

pytestmark = pytest.mark.integration

MAGNITUDE_KEYS = {"15", "20", "30", "40", "60"}


def test_evaluate_json_shape_and_feedpulse_beats_the_rules(ch_client) -> None:
    args = ["evaluate", "--weeks", "1", "--scale", "0.3", "--warmup-days", "8", "--seed", "3",
            "--database", "alerts_eval_test", "--json"]  # fmt: skip
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
    databases = {row[0] for row in ch_client.query("SHOW DATABASES").result_rows}
    assert "alerts_eval_test" not in databases


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
