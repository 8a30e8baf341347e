"""A small run of ``feedpulse alerts evaluate`` against the session's local ClickHouse."""

from __future__ import annotations

import json

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
