"""Superset dashboards as code (issue 18), end to end in a real browser.

A small simulated history goes through dbt into the marts; Superset (its own venv, ``make
superset-venv``) starts on a free port with its own metadata database, the dashboards YAML is
imported, and headless Chromium (Debian's, driven by Playwright from the dev venv) logs in, opens
every dashboard, waits for every chart, and checks: no chart shows an error; the Audience DAU
number equals the mart's ``app_dau``; choosing OS = iOS re-queries and shows ``app_dau_ios``.
Besides: a second import changes nothing, and a chart removed from the YAML is removed by the import.

Skipped, with the reason, when the Superset venv, Playwright or Chromium is missing.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedpulse.superset import home

CHROMIUM = Path("/usr/bin/chromium")

# CI installs Superset (.ci/run) and sets FEEDPULSE_REQUIRE_SUPERSET: there a missing piece fails the run.
REQUIRED = (os.environ.get("FEEDPULSE_REQUIRE_SUPERSET") or "").strip().lower() in {"1", "true", "yes", "on"}


def _missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} — and FEEDPULSE_REQUIRE_SUPERSET is set", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if not home.installed():
    _missing(f"Superset is not installed at {home.venv()} (make superset-venv)")
if not CHROMIUM.exists():
    _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not in the dev venv (pip install -e .[dev])"
)

from feedpulse.superset import importer, server, spec  # noqa: E402
from tests.conftest import DATA_TODAY, free_port  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.dbt, pytest.mark.superset]

SOURCE_DB = "superset_sim"
DAYS = 16  # day-14 retention needs a cohort 14 days before the last day
FIRST_DAY = DATA_TODAY - dt.timedelta(days=DAYS)
LAST_DAY = DATA_TODAY - dt.timedelta(days=1)
BOARDS = spec.load(home.SPEC_DIR).dashboards
# Dashboards whose time range follows the clock ("today"), not the data, unless a link sets it: their
# charts may be empty, never in error. The 15-minute one is opened through an alert's link below.
CLOCK_DASHBOARDS = {"alerts"}
CLOCK_CHARTS = {"Today by 15 minutes vs the same time a week ago (active users per service)"}
RENDER_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def marts(ch_client, dbt_cli):
    """Two weeks of simulated events, the dbt marts over them, and the 15-minute alert table."""
    from feedpulse.simulator import simulate

    drop_etl(ch_client)  # marts of this module's data only (earlier modules may have built others)
    simulate(ch_client, start=FIRST_DAY, days=DAYS, scale=0.02, seed=18, database=SOURCE_DB)
    dbt_cli({"start_date": FIRST_DAY.isoformat(), "end_date": DATA_TODAY.isoformat(), "source_database": SOURCE_DB})
    first_15min = DATA_TODAY - dt.timedelta(days=8)
    dbt_cli(
        {"start_date": first_15min.isoformat(), "end_date": DATA_TODAY.isoformat(), "source_database": SOURCE_DB},
        "--select",
        "metrics_15min",
    )
    yield ch_client
    drop_etl(ch_client)  # later modules start from an empty ETL, as after tests/test_point_in_time.py
    ch_client.command(f"DROP DATABASE IF EXISTS {SOURCE_DB}")


def drop_etl(client) -> None:
    client.command("DROP DATABASE IF EXISTS analytics")
    client.command("DROP DATABASE IF EXISTS test")


@pytest.fixture(scope="module")
def superset(marts, localhouse) -> Iterator[dict[str, Any]]:
    """Superset set up from scratch, started on a free port, with the dashboards imported."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEEDPULSE_SUPERSET_PORT", str(free_port()))
        patch.setenv("FEEDPULSE_SUPERSET_ADMIN", "tester")
        patch.setenv("FEEDPULSE_SUPERSET_PASSWORD", secrets.token_urlsafe(12))
        admin = server.setup()
        server.start()
        try:
            connection = importer.connection_from_env(localhouse)
            first = importer.run(home.SPEC_DIR, connection=connection)
            yield {"admin": admin, "url": home.base_url(), "connection": connection, "first_import": first}
        finally:
            server.stop()


@pytest.fixture(scope="module")
def api(superset) -> importer.Api:
    return importer.Api(superset["url"], superset["admin"].username, superset["admin"].password)


def inventory(api: importer.Api) -> dict[str, Any]:
    """What the import manages, by uuid: charts with their form data, datasets with their SQL and
    metrics, dashboards with their layout and filters."""
    charts = {
        r["uuid"]: (r["id"], r["slice_name"], r["params"])
        for r in api.list("chart", ["id", "uuid", "slice_name", "params"])
    }
    datasets = {}
    for row in api.list("dataset", ["id", "uuid"]):
        detail = api._call("GET", f"/api/v1/dataset/{row['id']}")["result"]
        metrics = sorted((m["metric_name"], m["expression"]) for m in detail["metrics"])
        datasets[row["uuid"]] = (row["id"], detail["sql"], metrics, len(detail["columns"]))
    dashboards = {}
    for row in api.list("dashboard", ["id", "uuid"]):
        detail = api._call("GET", f"/api/v1/dashboard/{row['id']}")["result"]
        dashboards[row["uuid"]] = (row["id"], detail["position_json"], detail["json_metadata"])
    return {"charts": charts, "datasets": datasets, "dashboards": dashboards}


def test_first_import_creates_every_object(superset, api):
    wanted = spec.load(home.SPEC_DIR)
    state = inventory(api)
    assert set(state["charts"]) == wanted.chart_uuids()
    assert set(state["datasets"]) == wanted.dataset_uuids()
    assert set(state["dashboards"]) == wanted.dashboard_uuids()
    assert not any(superset["first_import"].deleted.values())


def test_reimport_changes_nothing(superset, api):
    before = inventory(api)
    result = importer.run(
        home.SPEC_DIR, url=superset["url"], admin=superset["admin"], connection=superset["connection"]
    )
    assert not any(result.deleted.values())
    assert inventory(api) == before  # same ids, same form data, SQL, metrics, layout and filters


def test_chart_removed_from_yaml_is_deleted(superset, api, tmp_path):
    edited = tmp_path / "superset"
    shutil.copytree(home.SPEC_DIR, edited)
    board_path = edited / "dashboards" / "feed.yaml"
    board = yaml.safe_load(board_path.read_text())
    del board["charts"]["views_by_age"]
    board["rows"] = [[name for name in row if name != "views_by_age"] for row in board["rows"]]
    for flt in board["filters"]:
        flt["exclude"] = [name for name in flt.get("exclude", []) if name != "views_by_age"]
    board_path.write_text(yaml.safe_dump(board, sort_keys=False))
    gone = spec.object_uuid("chart", "views_by_age")
    try:
        result = importer.run(edited, url=superset["url"], admin=superset["admin"], connection=superset["connection"])
        assert result.deleted["chart"] == [gone]
        assert gone not in inventory(api)["charts"]
        feed = api._call("GET", "/api/v1/dashboard/feedpulse-feed/charts")["result"]
        assert "Views by age" not in {chart["slice_name"] for chart in feed}
        assert len(feed) == len(board["charts"])
    finally:
        restored = importer.run(
            home.SPEC_DIR, url=superset["url"], admin=superset["admin"], connection=superset["connection"]
        )
    assert gone in inventory(api)["charts"] and not any(restored.deleted.values())


# --- in the browser -------------------------------------------------------------------------------

CHART_DONE_JS = """
() => {
  const holders = [...document.querySelectorAll('.dashboard-component-chart-holder')];
  if (holders.length === 0 || document.querySelector('[data-test="loading-indicator"]')) return false;
  return holders.every(h => h.querySelector('canvas, table, .header-line, [role="alert"]')
                            || /No results were returned/.test(h.innerText));
}
"""


@pytest.fixture(scope="module")
def browser(superset):
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = chromium.new_page(viewport={"width": 1600, "height": 1800})
        page.set_default_timeout(RENDER_TIMEOUT_MS)
        page.goto(f"{superset['url']}/login/")
        page.fill("#username", superset["admin"].username)
        page.fill("#password", superset["admin"].password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/superset/welcome/**")
        yield page
        chromium.close()


def open_dashboard(page, url: str, slug: str) -> dict[str, str]:
    """Open a dashboard, wait until every chart has drawn (or failed); the text of each chart by title."""
    page.goto(f"{url}/superset/dashboard/{slug}/")
    page.wait_for_selector(".dashboard-component-chart-holder")
    page.wait_for_function(CHART_DONE_JS, timeout=RENDER_TIMEOUT_MS)
    return chart_texts(page)


def chart_texts(page) -> dict[str, str]:
    texts = {}
    for holder in page.locator(".dashboard-component-chart-holder").all():
        title = holder.locator('[data-test="editable-title"]').inner_text().strip()
        texts[title] = holder.inner_text()
    return texts


def errors(page) -> dict[str, str]:
    found = {}
    for holder in page.locator(".dashboard-component-chart-holder").all():
        if holder.locator('[role="alert"]').count():
            title = holder.locator('[data-test="editable-title"]').inner_text().strip()
            found[title] = holder.locator('[role="alert"]').first.inner_text()[:500]
    return found


@pytest.mark.parametrize("board_key", sorted(BOARDS))
def test_every_chart_renders(superset, browser, board_key):
    board = BOARDS[board_key]
    texts = open_dashboard(browser, superset["url"], board["slug"])
    assert set(texts) == {chart["title"] for chart in board["charts"].values()}
    assert errors(browser) == {}
    empty = {title for title, text in texts.items() if "No results were returned" in text}
    if board_key not in CLOCK_DASHBOARDS:
        assert empty <= CLOCK_CHARTS, f"charts without data: {sorted(empty - CLOCK_CHARTS)}"


SHOWS_NUMBER_JS = """
([title, want]) => [...document.querySelectorAll('.dashboard-component-chart-holder')].some(
  h => h.innerText.includes(title) && h.querySelector('.header-line')?.innerText.replace(/,/g, '') == want)
"""


def big_number(page, title: str) -> int:
    holder = page.locator(".dashboard-component-chart-holder", has_text=title).first
    return int(holder.locator(".header-line").inner_text().strip().replace(",", ""))


def test_dau_equals_the_mart_and_the_os_filter_requeries(superset, browser, marts):
    row = marts.query(
        "SELECT app_dau, app_dau_ios, new_users FROM analytics.app_daily_metrics WHERE event_date = {d:Date}",
        parameters={"d": LAST_DAY},
    ).result_rows
    app_dau, app_dau_ios, new_users = row[0]
    assert 0 < app_dau_ios < app_dau and new_users > 0
    open_dashboard(browser, superset["url"], "feedpulse-audience")
    assert big_number(browser, "DAU (latest day)") == app_dau
    # A first event's day in the data's timezone, as the mart counts it (the session runs in UTC).
    assert big_number(browser, "New users (latest day)") == new_users
    # WAU over user_daily (the dataset) = the lifecycle mart's week, computed from the attribute history
    wau = marts.command(
        "SELECT active_users FROM analytics.audience_lifecycle WHERE event_date = {d:Date}", parameters={"d": LAST_DAY}
    )
    assert big_number(browser, "WAU (latest day)") == int(wau)

    browser.locator("#NATIVE_FILTER-audience-os").click()
    browser.keyboard.type("iOS")
    browser.keyboard.press("Enter")
    browser.keyboard.press("Escape")
    with browser.expect_response(lambda r: "/api/v1/chart/data" in r.url and r.request.method == "POST") as answer:
        browser.locator('[data-test="filter-bar__apply-button"]').click()
    assert answer.value.ok
    browser.wait_for_function(CHART_DONE_JS, timeout=RENDER_TIMEOUT_MS)
    browser.wait_for_function(SHOWS_NUMBER_JS, arg=["DAU (latest day)", str(app_dau_ios)], timeout=RENDER_TIMEOUT_MS)
    assert big_number(browser, "DAU (latest day)") == app_dau_ios
    assert errors(browser) == {}


def chart_data_answers(page, action) -> list[dict[str, Any]]:
    """Run ``action`` (which loads a dashboard) and collect each chart query with its answer."""
    answers: list[dict[str, Any]] = []

    def keep(response) -> None:
        if "/api/v1/chart/data" in response.url and response.request.method == "POST" and response.ok:
            answers.append({"request": response.request.post_data_json, "answer": response.json()})

    page.on("response", keep)
    try:
        action()
        page.wait_for_function(CHART_DONE_JS, timeout=RENDER_TIMEOUT_MS)
    finally:
        page.remove_listener("response", keep)
    return answers


def test_an_alerts_link_opens_its_slice_and_day(superset, browser, marts):
    """FEEDPULSE_SUPERSET_URL: the alert's link opens the 15-minute dashboard on the alert's slice and
    the bucket's day; the views chart sums to that day's views of the slice in metrics_15min."""
    from feedpulse.superset import links

    bucket = dt.datetime.combine(LAST_DAY, dt.time(12, 15))
    url = links.alert_link("os:iOS", bucket, base=superset["url"])
    assert url.startswith(f"{superset['url']}/superset/dashboard/feedpulse-15min/?native_filters=")
    answers = chart_data_answers(browser, lambda: browser.goto(url))
    assert errors(browser) == {}
    views = [a for a in answers if any("sum_views" in q.get("colnames", []) for q in a["answer"]["result"])]
    assert views, "the views chart was not queried"
    query = views[-1]["request"]["queries"][0]
    assert {"col": "slice", "op": "IN", "val": ["os:iOS"]} in query["filters"]
    shown = sum(row["sum_views"] or 0 for row in views[-1]["answer"]["result"][0]["data"])
    want = marts.command(
        "SELECT sum(views) FROM analytics.metrics_15min FINAL WHERE slice = 'os:iOS' AND toDate(bucket) = {d:Date}",
        parameters={"d": LAST_DAY},
    )
    assert shown == int(want) > 0


def test_a_reports_link_opens_its_day(superset, browser, marts):
    """A report's link opens its dashboard over the four weeks ending the report's day: the latest-day
    DAU is that day's, not the newest."""
    from feedpulse.superset import links

    day = LAST_DAY - dt.timedelta(days=3)
    want = marts.command(
        "SELECT app_dau FROM analytics.app_daily_metrics WHERE event_date = {d:Date}", parameters={"d": day}
    )
    browser.goto(links.report_link("app", day, base=superset["url"]))
    browser.wait_for_selector(".dashboard-component-chart-holder")
    browser.wait_for_function(CHART_DONE_JS, timeout=RENDER_TIMEOUT_MS)
    assert big_number(browser, "DAU (latest day)") == int(want)


def test_retention_day_one_equals_an_independent_count(superset, browser, marts):
    """Day-1 retention over the cohorts in range, from the users' own days in user_daily."""
    open_dashboard(browser, superset["url"], BOARDS["retention"]["slug"])
    shown = browser.locator(".dashboard-component-chart-holder", has_text="Day-1 retention").first
    text = shown.locator(".header-line").inner_text().strip()
    want = marts.command(
        """
        WITH active AS (
            SELECT DISTINCT user_id, event_date, toDate(first_seen) AS cohort
            FROM analytics.user_daily WHERE is_feed_user OR is_messenger_user)
        SELECT countIf(event_date = cohort + 1) / countIf(event_date = cohort
                                                        AND cohort < (SELECT max(event_date) FROM active))
        FROM active
        """
    )
    assert text == f"{float(want) * 100:.1f}%"
