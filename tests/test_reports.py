"""Daily reports and the dashboard, end to end on simulated data processed by the ETL."""
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from feedpulse.alerts.series import AGE_BUCKET_SQL as AGE_SQL
from feedpulse.charts import ChartRenderer, chromium_path
from feedpulse.reports.data import ReportDataMissing
from feedpulse.reports.run import build, markdown, run_report
from feedpulse.telegram import DeliveryError, SentLog, TelegramSettings
from tests.conftest import DATA_TODAY
from tests.telegram_double import TOKEN, telegram_double  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.dbt]

SOURCE_DB = "etl_sim"  # same database, seed and scale as test_daily_etl: user attributes agree
DAY = DATA_TODAY - dt.timedelta(days=28)  # inside the pinned partitions, apart from test_daily_etl
FIRST = DAY - dt.timedelta(days=8)
PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"


@pytest.fixture(scope="module")
def marts(ch_client, ch_env_module, tmp_path_factory):
    from feedpulse.simulator import simulate

    simulate(ch_client, start=FIRST, days=(DAY - FIRST).days + 1, scale=0.03, seed=11, database=SOURCE_DB)
    target = tmp_path_factory.mktemp("dbt-target")
    variables = {
        "start_date": FIRST.isoformat(),
        "end_date": (DAY + dt.timedelta(days=1)).isoformat(),
        "source_database": SOURCE_DB,
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "run",
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(target),
            "--vars",
            json.dumps(variables),
        ],
        env={**ch_env_module, "DBT_LOG_PATH": str(target / "logs")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return ch_client


@pytest.fixture(scope="module")
def ch_env_module(localhouse):
    import os

    env = dict(os.environ)
    env.pop("CLICKHOUSE_HOST", None)
    return env


@pytest.fixture(scope="module")
def renderer():
    if chromium_path() is None:
        pytest.skip("chromium is not installed (make setup installs it)")
    with ChartRenderer() as shared:
        yield shared


def test_feed_report_numbers_equal_the_raw_events(marts):
    content = build("feed", marts, DAY)
    dau, views, likes = marts.query(
        f"SELECT uniqExact(user_id), countIf(action = 'view'), countIf(action = 'like') FROM {SOURCE_DB}.feed_actions "
        "WHERE toDate(time) = {d:Date}",
        parameters={"d": DAY},
    ).result_rows[0]
    assert content.numbers["dau"] == dau
    assert content.numbers["views"] == views and content.numbers["likes"] == likes
    assert content.numbers["ctr"] == pytest.approx(likes / views)
    assert f"{views:,}".replace(",", "\u2009") in content.html
    assert DAY.strftime("%d.%m.%Y") in content.html


def test_why_lines_name_a_segment_whose_change_matches_the_raw_events(marts):
    """Threshold 0: every figure that moved gets a "why" line; the views line's segment change is checked
    against the raw events of the day and the day before."""
    content = build("feed", marts, DAY, source=SOURCE_DB, why_threshold=0.0)
    lines = content.html.splitlines()
    views_at = next(i for i, line in enumerate(lines) if line.startswith("Просмотры:"))
    why = lines[views_at + 1]
    assert why.startswith("<i>↳ почему: ") and "% изменения (" in why, why
    label, _, rest = why.removeprefix("<i>↳ почему: ").partition(" — ")
    change = int(rest.split("(")[1].split(" %")[0].replace("−", "-").replace("+", ""))
    conditions, params = [], {"d": DAY, "p": DAY - dt.timedelta(days=1)}
    for k, part in enumerate(label.split(" · ")):
        dimension, _, value = part.rpartition("=") if "=" in part else ("os", "", part)
        column = {"age": AGE_SQL}.get(dimension, f"toString({dimension})")
        conditions.append(f"{column} = {{v{k}:String}}")
        params[f"v{k}"] = value
    today, before = marts.query(
        f"SELECT countIf(toDate(time) = {{d:Date}}), countIf(toDate(time) = {{p:Date}}) FROM {SOURCE_DB}.feed_actions "
        f"WHERE action = 'view' AND {' AND '.join(conditions)}",
        parameters=params,
    ).result_rows[0]
    assert change == round((today / before - 1) * 100)
    # a threshold above every move: no lines; the default threshold reads the setting
    assert "почему" not in build("feed", marts, DAY, source=SOURCE_DB, why_threshold=10.0).html


def test_app_report_numbers_equal_the_mart(marts):
    content = build("app", marts, DAY, lang="en")
    row = marts.query(
        "SELECT app_dau, messenger_dau, messages, both_users FROM analytics.app_daily_metrics "
        "WHERE event_date = {d:Date}",
        parameters={"d": DAY},
    ).result_rows[0]
    assert [content.numbers[k] for k in ("app_dau", "messenger_dau", "messages", "both_users")] == list(row)
    assert "Messenger DAU" in content.html and "New users" in content.html
    assert len(content.figures) == 4


def test_report_links_to_superset_when_set_else_to_the_given_page(marts, monkeypatch):
    import html as html_lib

    monkeypatch.delenv("FEEDPULSE_SUPERSET_URL", raising=False)
    assert 'href="file:///tmp/dash.html"' in build("app", marts, DAY, "en", "file:///tmp/dash.html").html
    monkeypatch.setenv("FEEDPULSE_SUPERSET_URL", "https://bi.example.com")
    page = html_lib.unescape(build("app", marts, DAY, "en", "file:///tmp/dash.html").html)
    assert 'href="https://bi.example.com/superset/dashboard/feedpulse-audience/?native_filters=' in page
    assert "file:///tmp/dash.html" not in page


def test_missing_day_fails_and_sends_nothing(marts, telegram_double, tmp_path):
    settings = telegram_double.settings(["42"])
    with pytest.raises(ReportDataMissing, match="daily ETL has not run"):
        run_report("feed", marts, dt.date(2020, 1, 1), telegram=settings, sent_log=SentLog(tmp_path / "s.sqlite"))
    assert telegram_double.calls == []


def test_delivered_once_despite_429_and_502_and_not_resent(marts, telegram_double, renderer, tmp_path, caplog):
    settings = telegram_double.settings(["42"])
    telegram_double.fail_next("sendMessage", status=429, retry_after=1)
    telegram_double.fail_next("sendMessage", status=502)
    log = SentLog(tmp_path / "sent.sqlite")
    caplog.set_level(logging.DEBUG)
    first = run_report("feed", marts, DAY, telegram=settings, sent_log=log, renderer=renderer)
    assert first.delivered_to == ["42"]
    methods = [call.method for call in telegram_double.calls]
    assert methods == ["sendMessage", "sendPhoto"]  # exactly once each, after the retries
    assert telegram_double.calls[1].files  # the PNG arrived

    again = run_report("feed", marts, DAY, telegram=settings, sent_log=log, renderer=renderer)
    assert again.delivered_to == [] and again.already_sent_to == ["42"]
    assert len(telegram_double.calls) == 2
    resent = run_report("feed", marts, DAY, telegram=settings, sent_log=log, renderer=renderer, resend=True)
    assert resent.delivered_to == ["42"] and len(telegram_double.calls) == 4

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")  # the double's own log
    assert ours and TOKEN not in ours
    assert TOKEN not in markdown(first)


def test_text_accepted_photo_refused_rerun_sends_only_the_photo(marts, telegram_double, renderer, tmp_path):
    """Issue 12: the re-run of a report whose photo was refused after its text went out sent the text twice."""
    settings = telegram_double.settings(["42", "43"])
    log = SentLog(tmp_path / "sent.sqlite")
    telegram_double.fail_next("sendPhoto", status=400, description="Bad Request: IMAGE_PROCESS_FAILED")
    with pytest.raises(DeliveryError) as info:
        run_report("feed", marts, DAY, telegram=settings, sent_log=log, renderer=renderer)
    assert list(info.value.failures) == ["42"] and info.value.receipt.chat_ids == ["43"]
    assert [c.method for c in telegram_double.sent(chat_id="42")] == ["sendMessage"]

    rerun = run_report("feed", marts, DAY, telegram=settings, sent_log=log, renderer=renderer)
    assert rerun.delivered_to == ["42"] and rerun.already_sent_to == ["43"]
    for chat in ("42", "43"):
        assert [c.method for c in telegram_double.sent(chat_id=chat)] == ["sendMessage", "sendPhoto"]  # once each
    assert "resumed for 42" in rerun.receipt.summary()


def test_without_token_both_reports_land_in_the_outbox(marts, renderer, tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDPULSE_HOME", str(tmp_path))
    settings = TelegramSettings(token="", chat_ids=(), api_url="https://api.telegram.org")
    for kind, pictures in (("feed", 1), ("app", 4)):
        run = run_report(
            kind, marts, DAY, telegram=settings, sent_log=SentLog(tmp_path / "sent.sqlite"), renderer=renderer
        )
        folder = run.receipt.outbox_path
        assert folder is not None and folder.is_dir()
        manifest = json.loads((folder / "manifest.json").read_text())
        assert len([p for p in manifest["parts"] if p["kind"] == "photo"]) == pictures
        assert list(folder.glob("*.html")) and len(list(folder.glob("*.png"))) == pictures
        assert all((folder / p["file"]).stat().st_size > 10_000 for p in manifest["parts"] if p["kind"] == "photo")
        assert "![" in markdown(run)  # the chart is inside the asset metadata's markdown


def test_dashboard_loads_in_headless_chromium(marts, tmp_path, monkeypatch):
    browser = chromium_path()
    if browser is None:
        pytest.skip("chromium is not installed")
    from feedpulse.reports import dashboard

    monkeypatch.setenv("FEEDPULSE_HOME", str(tmp_path))
    path = dashboard.write(dashboard.load(marts, source=SOURCE_DB))
    screenshot = tmp_path / "dashboard.png"
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chrome'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=8000",
            "--window-size=1400,2400",
            f"--screenshot={screenshot}",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console_errors = [
        line for line in result.stderr.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)
    ]
    assert console_errors == []
    assert result.stdout.count('class="main-svg"') >= 6  # plotly drew every panel
    assert screenshot.exists() and screenshot.stat().st_size > 50_000


def test_report_asset_records_the_report_and_does_not_resend(marts):
    if chromium_path() is None:
        pytest.skip("chromium is not installed")
    from dagster import DagsterInstance, materialize

    from feedpulse.config import feedpulse_home
    from orchestration.definitions import defs
    from orchestration.reports import feed_report

    instance = DagsterInstance.ephemeral()

    def run(**config):
        result = materialize(
            [feed_report],
            partition_key=DAY.isoformat(),
            instance=instance,
            resources={"clickhouse": defs.resources["clickhouse"]},
            run_config={"ops": {"reports__feed_report": {"config": config}}} if config else None,
        )
        assert result.success
        [event] = result.get_asset_materialization_events()
        return event.materialization.metadata

    first = run()
    assert "data:image/png;base64," in first["report"].value
    assert first["delivered_to"].value == "outbox"
    assert (feedpulse_home() / "outbox" / DAY.isoformat() / "feed_report" / "manifest.json").exists()
    assert run()["delivered_to"].value == "nobody (already sent)"
    assert run(resend=True, lang="en")["delivered_to"].value == "outbox"
