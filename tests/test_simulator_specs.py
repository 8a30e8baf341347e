"""Pure parsing tests of anomaly and experiment specs (no ClickHouse)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from feedpulse.durations import parse_duration
from feedpulse.experiments.spec import load_experiment, parse_experiment
from feedpulse.simulator.anomalies import SpecError, load_anomalies, parse_anomalies

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_examples_parse() -> None:
    spec = load_anomalies(EXAMPLES / "anomalies.yaml")
    assert [a.metric for a in spec] == ["views", "messages", "users", "new_users"]
    assert spec.anomalies[0].end - spec.anomalies[0].start == dt.timedelta(minutes=45)
    assert spec.anomalies[2].segment["city"][0] == "Moscow"
    exp = load_experiment(EXAMPLES / "experiment.yaml")
    assert exp.ab is not None and exp.ab.effect.type == "polarize" and exp.ab.treatment == 2
    assert abs(exp.ab.effect.share * exp.ab.effect.up + (1 - exp.ab.effect.share) * exp.ab.effect.down - 1) < 1e-12


@pytest.mark.parametrize(("text", "seconds"), [("45m", 2700), ("1h30m", 5400), ("2d", 172800), ("90s", 90), (60, 60)])
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


BASE = {"name": "x", "metric": "views", "start": "2026-11-20 14:00", "duration": "45m", "change": -0.4}


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"metric": "clicks"}, "field 'metric'"),
        ({"duration": "45 minutes"}, "field 'duration'"),
        ({"change": -1.5}, "field 'change'"),
        ({"segment": {"planet": "Mars"}}, "unknown segment key 'planet'"),
        ({"start": "yesterday"}, "field 'start'"),
        ({"metric": "users", "change": 0.3}, "decreases only"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_bad_anomalies_name_entry_and_field(patch: dict, needle: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_anomalies([BASE, {**BASE, **patch}])
    assert "anomalies[1] ('x')" in str(err.value) and needle in str(err.value)


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"ab": {"start": "2026-11-09", "end": "2026-11-01", "control": 1, "treatment": 2,
                 "effect": {"type": "ctr_lift", "lift": 0.1}}}, "experiment.ab.end"),
        ({"ab": {"start": "2026-11-09", "end": "2026-11-15", "control": 1, "treatment": 7,
                 "effect": {"type": "ctr_lift", "lift": 0.1}}}, "experiment.ab.treatment"),
        ({"ab": {"start": "2026-11-09", "end": "2026-11-15", "control": 1, "treatment": 2,
                 "effect": {"type": "magic"}}}, "experiment.ab.effect.type"),
        ({"groups": 9}, "experiment.groups"),
    ],
)  # fmt: skip
def test_bad_experiments(patch: dict, needle: str) -> None:
    with pytest.raises(SpecError, match=needle.replace(".", r"\.")):
        parse_experiment({"id": "e", **patch})


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_anomalies(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("- metric: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_experiment(tmp_path / "bad.yaml")
