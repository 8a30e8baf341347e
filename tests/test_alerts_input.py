"""Hostile-but-fair input to the alerts (issue 12): the config is validated completely at load, silences
accept only what the alerting evaluates, and every duration goes through one bounded parser."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedpulse.alerts.config import ConfigError, load_config, parse_config
from feedpulse.alerts.lifecycle import SILENCE_MAX, AlertStore, check_target, process_bucket
from feedpulse.alerts.service import history_window
from feedpulse.durations import parse_duration

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 11, 20, 12, 0)


def metrics(**extra) -> dict:
    return {"metrics": {"views": {**extra}}}


# --------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("data", "field", "needle"),
    [
        # a template with an unknown field used to load and then fail with KeyError when the alert was sent
        (metrics(chart_url="http://grafana/d?m={metrc}"), "metrics.views.chart_url", "{metrc}"),
        (metrics(chart_url="http://grafana/d?m={}"), "metrics.views.chart_url", "positional"),
        (metrics(chart_url="http://x/{metric.__class__}"), "metrics.views.chart_url", "{metric.__class__}"),
        (metrics(chart_url="http://x/{bucket:%Y}"), "metrics.views.chart_url", "cannot be rendered"),
        (metrics(chart_url="http://x/{metric"), "metrics.views.chart_url", "literal brace"),
        (metrics(dashboard_url="javascript:alert(1)"), "metrics.views.dashboard_url", "http"),
        ({**metrics(), "dashboard_url": "https://dash/{slise}"}, "dashboard_url", "{slise}"),
        # `metrics: {}` used to load and raise StopIteration at every evaluation
        ({"metrics": {}}, "metrics", "at least one metric"),
        # repeat_interval of 0 or negative used to be accepted
        ({**metrics(), "repeat_interval": 0}, "repeat_interval", "at least 15m"),
        ({**metrics(), "repeat_interval": "0m"}, "repeat_interval", "at least 15m"),
        ({**metrics(), "repeat_interval": "-2h"}, "repeat_interval", "expected a duration"),
        ({**metrics(), "repeat_interval": 120}, "repeat_interval", "at least 15m"),  # bare numbers are seconds
        ({**metrics(), "repeat_interval": "30d"}, "repeat_interval", "at most 7d"),
        # `slices: []` used to be accepted
        ({**metrics(), "slices": []}, "slices", "at least one slice"),
        ({**metrics(), "slices": ["total", "os", "os"]}, "slices", "listed twice"),
        (metrics(owners={"0s:iOS": "@bob"}), "metrics.views.owners", "'0s:iOS'"),
        ({"metrics": {"views": {"kind": "ratio", "volume_metric": "likes"}}}, "metrics.views.kind", "count metric"),
        ({"metrics": {"ctr": {"volume_metric": "feed_users"}}}, "metrics.ctr.volume_metric", "denominator is 'views'"),
        ({"metrics": {"views": {"title": "Views"}}}, "metrics.views", "comes from its definition"),
        ({**metrics(), "resolve_after_buckets": 0}, "resolve_after_buckets", "greater than or equal to 1"),
    ],
)
def test_config_rejected_at_load_naming_the_field(data: dict, field: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    message = str(info.value)
    assert re.search(rf"(^|[ ;]){re.escape(field)}[.:]", message) or f"{field}:" in message, message
    assert needle in message, message


def test_valid_templates_render_and_the_outside_dashboard_url_is_used_as_is() -> None:
    config = parse_config(
        {
            "repeat_interval": "1h30m",
            "metrics": {"views": {"chart_url": "https://g/d?m={metric}&s={slice}&t={bucket}&x={{literal}}"}},
        }
    )
    assert config.repeat_interval == dt.timedelta(minutes=90)
    assert history_window(config) > dt.timedelta(0)  # the call that raised StopIteration on `metrics: {}`
    links = config.metrics["views"].links("os:iOS", T0, fallback_url="file:///home/a/{odd}/index.html")
    assert links == {
        "chart": "https://g/d?m=views&s=os:iOS&t=2026-11-20T12:00&x={literal}",
        "dashboard": "file:///home/a/{odd}/index.html",  # FEEDPULSE_DASHBOARD_URL is not a template
    }


def test_the_files_dashboard_template_is_rendered_and_the_metrics_own_wins() -> None:
    config = parse_config(
        {
            "dashboard_url": "https://d/all?m={metric}&s={slice}",
            "metrics": {"views": {}, "likes": {"dashboard_url": "https://d/likes?b={bucket}"}},
        }
    )
    views = config.metrics["views"].links("os:iOS", T0, config.dashboard_url, "https://superset/x")
    likes = config.metrics["likes"].links("total", T0, config.dashboard_url, "https://superset/x")
    assert views == {"dashboard": "https://d/all?m=views&s=os:iOS"}  # was passed on unrendered
    assert likes == {"dashboard": "https://d/likes?b=2026-11-20T12:00"}


def test_shipped_config_still_loads() -> None:
    config = load_config(ROOT / "alerts.yaml")
    assert config.repeat_interval == dt.timedelta(hours=2) and config.slices == ["total", "os"]


# --------------------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90), ("45m", 2700), ("45min", 2700), ("2h", 7200), ("1d", 86400), ("1w", 604800),
     ("1h30m", 5400), ("1h 30m", 5400), ("1.5h", 5400), (60, 60), (dt.timedelta(minutes=5), 300)],
)  # fmt: skip
def test_one_duration_parser(value: object, seconds: float) -> None:
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize(
    "value", ["1e20h", "99999999999999999999h", "-1h", "0m", "two hours", "", "2H", "1M", True, None, float("inf")]
)
def test_durations_bad_or_out_of_range_are_value_errors(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_the_three_former_parsers_are_the_shared_one() -> None:
    import feedpulse.alerts.config as alerts_config
    import feedpulse.simulator.anomalies as anomalies

    assert anomalies.parse_duration is parse_duration and alerts_config.parse_duration is parse_duration
    definitions = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "feedpulse").rglob("*.py")
        if re.search(r"^def parse_duration\b", path.read_text(encoding="utf-8"), re.M)
    ]
    assert definitions == ["feedpulse/durations.py"]


# --------------------------------------------------------------------------------------------- silences


@dataclass
class Ev:
    bucket: dt.datetime
    metric: str
    slice: str
    status: str


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FEEDPULSE_HOME", str(tmp_path))
    monkeypatch.delenv("FEEDPULSE_ALERTS_CONFIG", raising=False)
    return tmp_path


def silence(*args: str):
    from feedpulse.cli import app

    return CliRunner(env={"COLUMNS": "400"}).invoke(app, ["alerts", "silence", *args])  # errors on one line


def evaluated(store: AlertStore, slices=("total", "os:iOS", "os:Android")) -> None:
    process_bucket(store, [Ev(T0, "views", s, "ok") for s in slices])


def test_typo_in_the_metric_is_rejected_with_the_known_ones(home) -> None:
    result = silence("veiws:os:iOS")  # used to be stored and mute nothing
    assert result.exit_code == 2, result.output
    assert "unknown metric 'veiws'" in result.output and "did you mean 'views'" in result.output
    assert "feed_users" in result.output and "messages" in result.output
    assert AlertStore(home / "state" / "alerts.sqlite").silences() == []


def test_unknown_slice_is_rejected_with_the_known_ones(home) -> None:
    store = AlertStore(home / "state" / "alerts.sqlite")
    evaluated(store)
    for target, needle in [
        ("views:os:IOS", "did you mean 'os:iOS'"),
        ("views:os:Windows", "known: os:Android, os:iOS, total"),
        ("views:platform:iOS", "slices are total, os:VALUE"),
        ("views:source:ads", "slices are total, os:VALUE"),  # a dimension alerts.yaml does not evaluate
    ]:
        result = silence(target)
        assert result.exit_code == 2, (target, result.output)
        assert needle in result.output, (target, result.output)
    assert store.silences() == []
    ok = silence("views:os:iOS", "--for", "1h30m", "--comment", "release")
    assert ok.exit_code == 0, ok.output
    [stored] = store.silences()
    assert (stored.metric, stored.slice, stored.comment) == ("views", "os:iOS", "release")


def test_before_any_evaluation_a_slice_value_is_accepted_with_a_warning() -> None:
    metric, slice_, warning = check_target("views:os:iOS", ["views"], ["total", "os"], known_slices=())
    assert (metric, slice_) == ("views", "os:iOS") and "cannot be checked" in warning
    assert check_target("*", ["views"], ["total"]) == ("*", None, None)


@pytest.mark.parametrize("duration", ["1e20h", "99999999999h", "0m", "-1h", "31d", "forever"])
def test_silence_durations_are_bounded_without_traceback(home, duration: str) -> None:
    result = silence("views", "--for", duration)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--for'" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, OverflowError)
    assert AlertStore(home / "state" / "alerts.sqlite").silences() == []


def test_store_refuses_an_unbounded_silence(tmp_path) -> None:
    store = AlertStore(tmp_path / "a.sqlite")
    with pytest.raises(ValueError, match="at most 30d"):
        store.add_silence("views", SILENCE_MAX + dt.timedelta(seconds=1), now=T0)
    assert store.add_silence("views", SILENCE_MAX, now=T0).until == T0 + SILENCE_MAX
