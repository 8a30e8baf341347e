"""The A/A verdict's calibration harness on small sizes: simulated users, scenarios, tables and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from feedpulse.experiments import calibrate
from feedpulse.experiments.cli import app

runner = CliRunner()


def test_simulated_users_are_shaped_like_the_app() -> None:
    users = calibrate.app_users(200_000, np.random.default_rng(0))
    ctr = users["likes"] / users["views"]
    assert ctr.mean() == pytest.approx(calibrate.APP_CTR_MEAN, abs=0.002)
    assert ctr.std() == pytest.approx(calibrate.APP_CTR_STD, abs=0.002)
    median = users["views"].median()
    for q, ratio in calibrate.VIEWS_RATIOS.items():
        assert users["views"].quantile(q) / median == pytest.approx(ratio, rel=0.08), q
    assert (users["likes"] <= users["views"]).all()


def test_scenarios_break_the_split_as_described() -> None:
    rng = np.random.default_rng(1)
    fair = calibrate.scenario_frame("fair", 20_000, rng)
    srm = calibrate.scenario_frame("srm", 20_000, rng)
    assert (fair["exp_group"] == 2).mean() == pytest.approx(0.5, abs=0.01)
    assert (srm["exp_group"] == 2).mean() == pytest.approx(0.52, abs=0.01)
    steer = calibrate.scenario_frame("steer", 20_000, rng)
    ctr = steer["likes"] / steer["views"]
    assert ctr[steer["exp_group"] == 2].mean() > ctr[steer["exp_group"] == 3].mean() + 0.003
    bots = calibrate.scenario_frame("bots", 20_000, rng)
    assert len(bots) == 40_000 + 400 and bots["user_id"].is_unique
    heavy = bots.tail(400)
    assert (heavy["exp_group"] == 2).all() and (heavy["likes"] / heavy["views"]).mean() < 0.02
    assert heavy["views"].min() > 2 * bots["views"].median()
    with pytest.raises(ValueError, match="unknown scenario"):
        calibrate.scenario_frame("coin", 10, rng)


def test_harness_counts_verdicts_per_cell_and_pools_them() -> None:
    cells = calibrate.run_harness(
        [400, 20_000],
        [50, 1_000],  # 1,000 of 400 users is infeasible and skipped
        splits=6,
        power_splits=4,
        sims=300,
        resplits=200,
        seed_base=calibrate.TUNING_SEED_BASE,
        scenarios=("fair", "bots"),
    )
    assert [(c.kind, c.population, c.sample_size) for c in cells] == [
        ("fair", 400, 50),
        ("fair", 20_000, 50),
        ("fair", 20_000, 1_000),
        ("bots", 400, 50),
        ("bots", 20_000, 50),
        ("bots", 20_000, 1_000),
    ]
    fair_broken, fair_total, _ = calibrate.pooled(cells, "fair")
    _, bots_total, _ = calibrate.pooled(cells, "bots")
    assert fair_total == 18 and bots_total == 12
    assert fair_broken <= 1  # ≈ 1 % of fair splits
    assert sum(c.count("broken") for c in cells if c.kind == "bots" and c.population == 20_000) >= 7  # of 8
    table = calibrate.markdown_table(cells)
    assert "| fair | 20,000 | 1000 | 6 |" in table and "| bots (all sizes) | 12 |" in table


def test_same_seed_base_same_verdicts() -> None:
    def run() -> list[str]:
        return calibrate.run_cell("steer", 600, 100, 3, sims=200, resplits=100, seed_base=7).statuses

    assert run() == run()


def test_cli_writes_the_tables_and_json(tmp_path: Path) -> None:
    out = tmp_path / "calibration.md"
    args = ["aa-calibrate", "--populations", "300", "--sample-sizes", "50", "--splits", "3", "--power-splits", "2"]
    args += ["--sims", "100", "--resplits", "50", "--seed-base", "1", "--markdown", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["seed_base"] == 1 and [c["scenario"] for c in data["cells"]] == list(calibrate.SCENARIOS)
    assert data["cells"][0]["splits"] == 3 and len(data["cells"][0]["broken_rate_ci"]) == 2
    assert out.read_text(encoding="utf-8").startswith("| scenario | users per group |")
    bad = runner.invoke(app, ["aa-calibrate", "--scenarios", "fair,typo"])
    assert bad.exit_code == 2 and "--scenarios" in bad.output
    too_big = runner.invoke(app, ["aa-calibrate", "--populations", "100", "--sample-sizes", "500"])
    assert too_big.exit_code == 2 and "no feasible cell" in too_big.output
