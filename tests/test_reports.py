"""Daily reports and the dashboard, end to end on simulated data processed by the ETL."""
# ruff: noqa: F811

from __future__ import annotations

import contextlib
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
    assert content.numbers["feed_users"] == dau
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
        "SELECT app_dau, messenger_dau, messages, both_users, app_dau_ios FROM analytics.app_daily_metrics "
        "WHERE event_date = {d:Date}",
        parameters={"d": DAY},
    ).result_rows[0]
    keys = ("app_users", "messenger_users", "messages", "both_users", "app_dau_ios")
    assert [content.numbers[k] for k in keys] == list(row)
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


def test_app_reports_whole_period_equals_the_raw_events(marts):
    """issue 16: the app report's "whole period" section (users ever, the week's lifecycle, day-1 and
    day-7 retention) against the users' own events in the raw tables, computed here."""
    content = build("app", marts, DAY, "en")
    users_ever, week_active, d1, d7 = marts.query(
        f"""
        WITH own AS (
            SELECT user_id, toDate(time) AS day FROM {SOURCE_DB}.feed_actions WHERE time < toDateTime({{d:Date}} + 1)
            UNION ALL
            SELECT user_id, toDate(time) FROM {SOURCE_DB}.message_actions WHERE time < toDateTime({{d:Date}} + 1)
        ),
        users AS (
            SELECT user_id, min(day) AS first_day, max(day = {{d:Date}}) AS today,
                   max(day > {{d:Date}} - 7) AS in_week
            FROM own GROUP BY user_id
        )
        SELECT count(), countIf(in_week),
               countIf(first_day = {{d:Date}} - 1 AND today) / countIf(first_day = {{d:Date}} - 1),
               countIf(first_day = {{d:Date}} - 7 AND today) / countIf(first_day = {{d:Date}} - 7)
        FROM users
        """,
        parameters={"d": DAY},
    ).result_rows[0]
    numbers = content.numbers
    assert numbers["users_ever"] == users_ever and numbers["week_active"] == week_active
    assert numbers["week_new"] + numbers["week_retained"] + numbers["week_returning"] == week_active
    assert numbers["retention_d1"] == pytest.approx(d1) and numbers["retention_d7"] == pytest.approx(d7)
    assert f"Whole period (since {FIRST:%d.%m.%Y})" in content.html
    assert f"day 1 {d1 * 100:.1f} %" in content.html


def test_without_the_product_health_marts_the_whole_period_is_left_out(marts):
    from feedpulse.reports.data import load_whole_period

    assert load_whole_period(marts, DAY, database="no_such_database") is None
    assert load_whole_period(marts, DAY + dt.timedelta(days=30)) is None  # a day the marts do not hold


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


# The dashboard's clock, pinned: mid-afternoon of the last simulated day. metrics_15min holds the whole
# day (as if the data ran ahead of the clock), so the page must cut today at the clock, not at the data.
DASHBOARD_NOW = dt.datetime.combine(DAY, dt.time(14, 7))
LAST_BUCKET = dt.datetime.combine(DAY, dt.time(13, 45))  # the last one that ended by DASHBOARD_NOW
CHROMIUM = Path("/usr/bin/chromium")

# What a reader sees of each chart, from the page itself: its title, whether its drawing lies within
# its panel and the panel within the window (the DAU/WAU/MAU chart was drawn twice as wide as its
# column, its latest days cut off), the x axis shown and the plotted traces.
CHARTS_JS = """() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(chart => {
  const panel = chart.closest('section').getBoundingClientRect();
  const drawing = chart.querySelector('.main-svg').getBoundingClientRect();
  return [chart.id, {
    title: chart._fullLayout.title.text,
    fits: drawing.left >= panel.left - 1 && drawing.right <= panel.right + 1
          && panel.right <= document.documentElement.clientWidth + 1,
    width: [drawing.width, panel.width, document.documentElement.clientWidth],
    xrange: chart._fullLayout.xaxis.range,
    traces: chart.data.map(t => ({name: t.name, group: t.legendgroup || t.name, x: t.x, y: t.y})),
  }];
}))"""
SETTLED_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].length >= 6 &&
  [...document.querySelectorAll('.js-plotly-plot')].every(c =>
    c._fullLayout && Math.abs(c._fullLayout.width - c.getBoundingClientRect().width) < 2)"""


@pytest.fixture(scope="module")
def metrics_15min(marts, dbt_cli):
    """analytics.metrics_15min (the dbt model the anomaly sensor has refreshed) over the simulated days,
    DAY included whole."""
    marts.command("DROP TABLE IF EXISTS analytics.metrics_15min")
    window = {"start_date": FIRST.isoformat(), "end_date": (DAY + dt.timedelta(days=1)).isoformat()}
    dbt_cli({**window, "source_database": SOURCE_DB}, "--select", "metrics_15min")
    yield marts
    marts.command("DROP TABLE IF EXISTS analytics.metrics_15min")


def _open_dashboard(path: Path, width: int) -> tuple[dict, list[str]]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not in the dev venv")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 1200})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(path.as_uri())
            # every chart drawn at its panel's width; on a timeout the assertions say what is wrong
            with contextlib.suppress(sync_api.TimeoutError):
                page.wait_for_function(SETTLED_JS, timeout=15_000)
            return page.evaluate(CHARTS_JS), errors
        finally:
            browser.close()


def _day(value: str) -> dt.date:
    return dt.datetime.fromisoformat(value).date()


@pytest.mark.parametrize("width", [1400, 390])  # two columns (where the clipping was), and a phone
def test_dashboard_in_a_browser_shows_the_whole_history_and_today_so_far(metrics_15min, tmp_path, width):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from feedpulse.reports import dashboard

    path = dashboard.write(dashboard.load(metrics_15min, now=DASHBOARD_NOW), tmp_path / "index.html")
    charts, errors = _open_dashboard(path, width)

    assert errors == []
    assert set(charts) == {f"chart-{n}" for n in ("active", "audience", "new_users", "metrics", "today")}
    assert {name: chart["width"] for name, chart in charts.items() if not chart["fits"]} == {}

    # DAU/WAU/MAU: every line reaches the latest day, on an axis that shows it; MAU is drawn although
    # the history (9 days) is shorter than its window, and says so
    active = charts["chart-active"]
    assert _day(active["xrange"][0]) == FIRST and _day(active["xrange"][1]) == DAY
    groups: dict[str, list[dict]] = {}
    for trace in active["traces"]:
        if trace["x"] != [None]:
            groups.setdefault(trace["group"], []).append(trace)
    assert set(groups) == {"DAU", "WAU", "MAU"}
    for group, traces in groups.items():
        days = sorted(_day(x) for trace in traces for x in trace["x"])
        assert days[0] == FIRST and days[-1] == DAY, group
    mau = groups["MAU"]
    assert all(y > 0 for trace in mau for y in trace["y"]) and sum(len(trace["x"]) for trace in mau) >= 9
    assert all("incomplete window" in trace["name"] for trace in mau)

    # 15 minutes: today's line is the pinned day up to the last bucket that ended by the pinned time,
    # next to the whole day a week before; the numbers are the raw events'
    today = charts["chart-today"]
    assert str(DAY) in today["title"] and "until 14:00" in today["title"]
    lines = [t for t in today["traces"] if t["group"] == "today"]
    assert len(lines) == 4 and all(t["name"] == f"today, {DAY}" for t in lines)
    for line in lines:
        times = [dt.datetime.fromisoformat(x) for x in line["x"]]
        assert {t.date() for t in times} == {DAY}
        assert times[0] == dt.datetime.combine(DAY, dt.time()) and times[-1] == LAST_BUCKET
        assert len(times) == 56
    week_before = [t for t in today["traces"] if t["group"] == "week_before"]
    assert len(week_before) == 4 and all(str(DAY - dt.timedelta(days=7)) in t["name"] for t in week_before)
    assert all(len(t["x"]) == 96 for t in week_before)
    views = _views_in_bucket(metrics_15min, LAST_BUCKET)
    assert lines[1]["y"][-1] == views  # the "Views" subplot's last point


def _views_in_bucket(client, bucket: dt.datetime) -> int:
    return client.query(
        f"SELECT countIf(action = 'view') FROM {SOURCE_DB}.feed_actions "
        "WHERE time >= {start:DateTime} AND time < {end:DateTime}",
        parameters={"start": bucket, "end": bucket + dt.timedelta(minutes=15)},
    ).result_rows[0][0]


def test_dashboard_says_when_today_has_no_15_minute_data(metrics_15min):
    """The clock a day past the table's last bucket: no line for today (no zeros that would look like an
    outage), the panel says why; the week before is still drawn."""
    from feedpulse.reports import dashboard

    data = dashboard.load(metrics_15min, now=dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(10, 5)))
    assert set(data.quarter_hours["series"]) == {"week_before"}
    assert any("No 15-minute data for today" in note for note in data.quarter_hours_notes)
    title = dict(dashboard.figures(data))["today"].layout.title.text
    assert "no data yet" in title and "No 15-minute data for today" in title


def test_dashboard_without_metrics_15min_says_so(metrics_15min):
    from feedpulse.reports import dashboard

    metrics_15min.command("DROP TABLE IF EXISTS analytics.metrics_15min")
    data = dashboard.load(metrics_15min, now=DASHBOARD_NOW)
    assert data.quarter_hours.empty
    assert "metrics_15min is missing or empty" in dict(dashboard.figures(data))["today"].layout.title.text


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
