"""bench/rootcause.py's replay: the explainer re-run on kept cells as the harness runs it (the alerts.yaml driver),
the counts alone (``driver=None``), one mechanism alone, and feed_users plants explained on views (``--audience``)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import pickle
from pathlib import Path

import pandas as pd
import pytest

from feedpulse.alerts import explain as explain_module
from feedpulse.alerts.rootcause import Outcome, Plant

BENCH = Path(__file__).resolve().parents[1] / "bench" / "rootcause.py"
BUCKET = dt.datetime(2024, 3, 19, 8)


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_rootcause", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline(users: dict[str, tuple[list[int], list[float]]]) -> pd.DataFrame:
    rows = [(city, t, u, v) for city, (us, vs) in users.items() for t, (u, v) in enumerate(zip(us, vs, strict=True))]
    return pd.DataFrame(rows, columns=["city", "slot", "feed_users", "views"])


def outcome(metric: str) -> Outcome:
    plant = Plant(metric, (("city", "Tver"),), 0.05, -0.3, BUCKET)
    return Outcome(plant, True, -5.0, 0.9, (), False, False, seed=7)


@pytest.fixture
def kept(tmp_path: Path) -> Path:
    """Two plants in Tver: its views per user −30 % while its audience swings (a views plant), and 40 % of its users
    gone while each views as before (a feed_users plant)."""
    per_user = baseline({"Tver": ([50, 150] * 6, [500.0, 1500.0] * 6), "Omsk": ([100] * 12, [900.0, 1100.0] * 6),
                         "Other": ([800] * 12, [8000.0] * 12)})  # fmt: skip
    per_user_now = pd.DataFrame([("Tver", 100, 700.0), ("Omsk", 100, 780.0), ("Other", 800, 8000.0)],
                                columns=["city", "feed_users", "views"])  # fmt: skip
    audience = baseline({"Tver": ([95, 105] * 6, [700.0, 1300.0] * 6), "Omsk": ([100] * 12, [980.0, 1020.0] * 6),
                         "Other": ([800] * 12, [8000.0] * 12)})  # fmt: skip
    audience_now = pd.DataFrame([("Tver", 60, 600.0), ("Omsk", 100, 920.0), ("Other", 800, 8000.0)],
                                columns=["city", "feed_users", "views"])  # fmt: skip
    records = [
        (outcome("views"), per_user_now, per_user, 10000.0),
        (outcome("feed_users"), audience_now, audience, 1000.0),  # the detector expects 1000 feed users
    ]
    with (tmp_path / "seed7.pkl").open("wb") as fh:
        pickle.dump(records, fh)
    return tmp_path


def test_replay_reads_the_alerts_config_driver_and_can_drop_it(kept: Path) -> None:
    bench = load_bench()
    shipped = bench.replay(kept, {"dimensions": ["city"], "min_users": 0})
    assert shipped["by_metric"]["views"] == (1.0, 1.0, 1)  # Tver first: its views per user fell
    counts = bench.replay(kept, {"dimensions": ["city"], "min_users": 0, "driver": None})
    assert counts["by_metric"]["views"][0] == 0.0  # on the counts alone Omsk leads


def test_audience_replay_explains_feed_users_plants_on_views_and_rate_alone_misses_them(
    kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_bench()
    options = {"dimensions": ["city"], "min_users": 0}
    both = bench.replay(kept, options, audience=True)
    assert both["plants"] == 1 and both["by_metric"]["views"][0] == 1.0
    monkeypatch.setattr(explain_module, "_audience_z2", explain_module._audience_z2)  # restored after the test
    bench._only("rate")
    assert bench.replay(kept, options, audience=True)["by_metric"]["views"][0] == 0.0
