"""Dashboards as code without Superset: the shipped YAML is consistent, mistakes are named, and the
links from alerts and reports point at filters that exist (the browser test, tests/test_superset.py,
opens them in a real Superset)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import prison
import pytest
import yaml

from feedpulse.superset import home, links, spec

BASE = "https://bi.example.com"


def test_the_shipped_dashboards_load() -> None:
    loaded = spec.load(home.SPEC_DIR)
    assert {"audience", "feed", "messenger", "retention", "experiments", "alerts"} <= set(loaded.dashboards)
    for board in loaded.dashboards.values():
        keys = {flt["key"] for flt in board["filters"]}
        assert "date" in keys


def _edit(tmp_path: Path, edit) -> Path:
    copy = tmp_path / "superset"
    shutil.copytree(home.SPEC_DIR, copy)
    path = copy / "datasets.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


def test_an_expression_cut_at_its_comma_is_named(tmp_path: Path) -> None:
    def cut(data):  # what `{expression: sumIf(a, b)}` without quotes parses to
        data["datasets"]["retention"]["metrics"]["new_users"]["expression"] = "sumIf(cohort_users"

    with pytest.raises(spec.SpecError, match=r"retention, metric new_users.*unbalanced"):
        spec.load(_edit(tmp_path, cut))


def test_an_unknown_filter_field_is_named(tmp_path: Path) -> None:
    copy = tmp_path / "superset"
    shutil.copytree(home.SPEC_DIR, copy)
    path = copy / "dashboards" / "feed.yaml"
    board = yaml.safe_load(path.read_text())
    board["filters"][1]["colum"] = "os"
    path.write_text(yaml.safe_dump(board, sort_keys=False))
    with pytest.raises(spec.SpecError, match=r"filter os: unknown fields \['colum'\]"):
        spec.load(copy)


def _state(url: str) -> tuple[str, dict]:
    parts = urlsplit(url)
    return parts.path, prison.loads(parse_qs(parts.query)["native_filters"][0])


def _filter_ids(board_key: str) -> set[str]:
    board = spec.load(home.SPEC_DIR).dashboards[board_key]
    config = spec.dashboard_yaml(board_key, board)["metadata"]["native_filter_configuration"]
    return {flt["id"] for flt in config}


def test_an_alert_links_to_its_slice_and_day() -> None:
    path, state = _state(links.alert_link("os:Android", dt.datetime(2026, 11, 30, 23, 45), base=BASE))
    assert path == "/superset/dashboard/feedpulse-15min/"
    assert set(state) <= _filter_ids("alerts")
    masks = {key.rsplit("-", 1)[1]: value for key, value in state.items()}
    assert masks["slice"]["extraFormData"]["filters"] == [{"col": "slice", "op": "IN", "val": ["os:Android"]}]
    assert masks["date"]["filterState"]["value"] == "2026-11-30T00:00:00 : 2026-12-01T00:00:00"


def test_reports_link_to_their_dashboard_over_four_weeks() -> None:
    path, state = _state(links.report_link("feed", dt.date(2026, 3, 1), base=BASE))
    assert path == "/superset/dashboard/feedpulse-feed/"
    assert set(state) <= _filter_ids("feed")
    (mask,) = state.values()
    assert mask["extraFormData"]["time_range"] == "2026-02-02T00:00:00 : 2026-03-02T00:00:00"
    assert links.report_link("app", dt.date(2026, 3, 1), base=BASE).startswith(
        f"{BASE}/superset/dashboard/feedpulse-audience/"
    )


def test_without_superset_the_callers_fallback_is_used(monkeypatch) -> None:
    monkeypatch.delenv("FEEDPULSE_SUPERSET_URL", raising=False)
    assert links.alert_link("total", dt.datetime(2026, 1, 1)) is None
    assert links.report_link("feed", dt.date(2026, 1, 1)) is None


def test_a_superset_url_that_is_not_http_is_named() -> None:
    from feedpulse.config import SettingsError, settings

    assert settings({"FEEDPULSE_SUPERSET_URL": "https://bi.example.com/"}).superset_url == "https://bi.example.com"
    with pytest.raises(SettingsError, match="FEEDPULSE_SUPERSET_URL"):
        settings({"FEEDPULSE_SUPERSET_URL": "bi.example.com:8088"})
