"""Alerts end to end: simulated data with a drop injected into one segment (Android users from ads, as in the
demo) → sensor tick → alert run → message naming the segment first, with one chart per metric in the Telegram
double; and no message on clean data."""
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import html
import json

import pytest
from dagster import DagsterInstance, build_sensor_context

from feedpulse.simulator.anomalies import parse_anomalies
from feedpulse.superset import links
from tests.conftest import DATA_TODAY
from tests.telegram_double import telegram_double  # noqa: F401

pytestmark = pytest.mark.integration

DATABASE = "alert_sim"
DAY = DATA_TODAY - dt.timedelta(days=3)
FIRST = DAY - dt.timedelta(days=24)
DROP_START = dt.datetime.combine(DAY, dt.time(19, 0))
ANOMALIES = parse_anomalies(
    [
        {
            "name": "views drop of Android users from ads (the demo's anomaly)",
            "metric": "views",
            "start": f"{DROP_START:%Y-%m-%d %H:%M}",
            "duration": "1h",
            "change": -0.8,
            "segment": {"os": "Android", "source": "ads"},
        }
    ]
)


@pytest.fixture(scope="module")
def alert_data(ch_client):
    from feedpulse.simulator import simulate

    simulate(
        ch_client, start=FIRST, days=(DAY - FIRST).days + 1, scale=0.3, seed=3, database=DATABASE, anomalies=ANOMALIES
    )
    ch_client.command("DROP TABLE IF EXISTS analytics.metrics_15min")
    return ch_client


@pytest.fixture
def alert_env(alert_data, monkeypatch, tmp_path, telegram_double):
    import orchestration.definitions  # noqa: F401  (loaded with the default source database, as in production)

    monkeypatch.setenv("FEEDPULSE_SOURCE_DATABASE", DATABASE)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", telegram_double.settings().token)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "777")
    monkeypatch.setenv("TELEGRAM_API_URL", telegram_double.url)
    # The alert state and sent log of this module's own: a sensor tick here must leave nothing in
    # $FEEDPULSE_HOME/state for later modules (the production stack's sensor reads it there).
    from feedpulse.alerts.lifecycle import AlertStore
    from feedpulse.telegram import SentLog

    monkeypatch.setattr("feedpulse.alerts.service.AlertStore", lambda: AlertStore(tmp_path / "alerts.sqlite"))
    monkeypatch.setattr("feedpulse.alerts.service.SentLog", lambda: SentLog(tmp_path / "sent.sqlite"))
    return telegram_double


def tick(monkeypatch, now: dt.datetime, cursor: str | None = None, instance: DagsterInstance | None = None):
    import orchestration.sensors as sensors
    from orchestration.definitions import defs

    monkeypatch.setattr(sensors, "server_now", lambda client: now)
    monkeypatch.setattr("orchestration.alerts_assets.server_now", lambda client: now)
    context = build_sensor_context(
        cursor=cursor,
        resources={"clickhouse": defs.resources["clickhouse"]},
        instance=instance or DagsterInstance.ephemeral(),
    )
    result = sensors.anomaly_sensor(context)
    return result, context.cursor


def refresh(request) -> None:
    """Run the metrics_15min refresh the sensor requested (dbt, as the daemon would launch it)."""
    from orchestration.definitions import defs

    assert request.job_name == "metrics_15min_job"
    job = defs.resolve_job_def("metrics_15min_job")
    assert job.execute_in_process(run_config=request.run_config, raise_on_error=False).success


def evaluated_tick(monkeypatch, now: dt.datetime, cursor: str | None = None):
    """A sensor tick that evaluates ``now``'s bucket: running first the refresh it asks for, if any."""
    result, new_cursor = tick(monkeypatch, now, cursor)
    if isinstance(result, list) and result and result[0].job_name == "metrics_15min_job":
        refresh(result[0])
        result, new_cursor = tick(monkeypatch, now, cursor)
    return result, new_cursor


def test_sensor_requests_a_refresh_and_writes_no_table(alert_data, alert_env, monkeypatch):
    """issue 16: metrics_15min is a dbt model; a stale table makes the sensor request its refresh
    (the days fixed in the run config) and evaluate on a later tick — the sensor writes nothing."""
    alert_data.command("DROP TABLE IF EXISTS analytics.metrics_15min")
    now = DROP_START + dt.timedelta(minutes=35)
    result, cursor = tick(monkeypatch, now)
    assert isinstance(result, list) and [r.job_name for r in result] == ["metrics_15min_job"]
    assert cursor is None  # the bucket is not evaluated yet
    days = result[0].run_config["ops"]["metrics_15min_refresh"]["config"]
    assert days["end_date"] == (DAY + dt.timedelta(days=1)).isoformat() and days["start_date"] < DAY.isoformat()
    assert not alert_data.command("EXISTS TABLE analytics.metrics_15min")
    # a refresh already running: the sensor waits for it instead of asking again
    from dagster import DagsterRunStatus, SkipReason
    from dagster._core.storage.dagster_run import DagsterRun

    busy = DagsterInstance.ephemeral()
    busy.add_run(DagsterRun(job_name="metrics_15min_job", run_id="running-refresh", status=DagsterRunStatus.STARTED))
    waiting, _ = tick(monkeypatch, now, instance=busy)
    assert (
        isinstance(waiting, SkipReason) and "waiting for metrics_15min refresh running-refresh" in waiting.skip_message
    )
    refresh(result[0])
    # the model's buckets of a day sum to that day's views in the raw table (the simulator writes no bad rows)
    views = alert_data.command(
        "SELECT sum(views) FROM analytics.metrics_15min WHERE slice = 'total' AND toDate(bucket) = {d:Date}",
        parameters={"d": DAY - dt.timedelta(days=1)},
    )
    raw = alert_data.command(
        f"SELECT countIf(action = 'view') FROM {DATABASE}.feed_actions WHERE toDate(time) = {{d:Date}}",
        parameters={"d": DAY - dt.timedelta(days=1)},
    )
    assert int(views) == int(raw) > 0
    again, _ = tick(monkeypatch, now)
    assert not (isinstance(again, list) and again and again[0].job_name == "metrics_15min_job")
    # the table lost after a refresh (or a refresh that failed): the next tick asks again, nothing stalls
    alert_data.command("DROP TABLE analytics.metrics_15min")
    lost, _ = tick(monkeypatch, now)
    assert isinstance(lost, list) and [r.job_name for r in lost] == ["metrics_15min_job"]
    refresh(lost[0])


def test_drop_fires_sensor_run_sends_message_with_chart(alert_env, monkeypatch, tmp_path):
    from orchestration.definitions import defs
    from orchestration.sensors import alert_job

    monkeypatch.setenv("FEEDPULSE_SUPERSET_URL", "https://bi.example.com")  # issue 18: links into Superset
    now = DROP_START + dt.timedelta(minutes=35)  # bucket 19:15 complete after the 5-minute delay
    result, cursor = evaluated_tick(monkeypatch, now)
    assert isinstance(result, list) and result, f"no run requested: {result}"
    assert cursor == (DROP_START + dt.timedelta(minutes=15)).isoformat()
    views_requests = [r for r in result if '"views"' in r.run_config["ops"]["send_alert"]["config"]["notification"]]
    assert views_requests and all(r.run_key.startswith("alert:") for r in result)
    assert any(r.tags["feedpulse/slice"] == "total" for r in views_requests)

    again, _ = tick(monkeypatch, now, cursor=cursor)  # same bucket: nothing new
    assert not isinstance(again, list)

    request = next(r for r in views_requests if r.tags["feedpulse/slice"] == "total")

    def execute():
        return alert_job.execute_in_process(
            run_config=request.run_config, resources={"clickhouse": defs.resources["clickhouse"]}, raise_on_error=False
        )

    metrics = json.loads(request.run_config["ops"]["send_alert"]["config"]["notification"])["evaluations"]
    photo_method = "sendMediaGroup" if len(metrics) > 1 else "sendPhoto"  # one chart per metric
    # issue 12: the chart is refused after the text went out; re-executing the run must not repeat the text
    alert_env.fail_next(photo_method, status=400, description="Bad Request: IMAGE_PROCESS_FAILED")
    assert not execute().success
    assert len(alert_env.sent("sendMessage")) == 1 and alert_env.sent(photo_method) == []
    assert execute().success
    messages = alert_env.sent("sendMessage")
    photos = alert_env.sent(photo_method)
    assert len(messages) == 1 and len(photos) == 1
    text = messages[0].text
    assert "views" in text and "total" in text and "%" in text
    # issue 17: the planted segment is named first, and the views chart travels with the message
    where = [line for line in text.splitlines() if line.startswith("Где:")]
    assert where and where[0].startswith("Где: Android · source=ads —"), text
    assert "на пользователя" in where[0], text  # views split into their users and views per user
    # the link opens Superset's 15-minute dashboard on this slice (total) and the bucket's day
    link = links.alert_link("total", DROP_START + dt.timedelta(minutes=15))
    assert link.startswith("https://bi.example.com/superset/dashboard/feedpulse-15min/") and link in html.unescape(text)
    files = list(photos[0].files.values())
    assert len(files) == len(metrics) and all(f[1][:4] == b"\x89PNG" for f in files)
    assert any(name.startswith("views-total") for name, *_ in files), [f[0] for f in files]
    # re-executing a delivered alert_job (e.g. from the UI) sends nothing
    assert execute().success
    assert len(alert_env.sent()) == 2


def test_clean_bucket_sends_nothing(alert_env, monkeypatch, tmp_path):
    clean_now = DROP_START - dt.timedelta(days=1) + dt.timedelta(minutes=35)
    result, _ = evaluated_tick(monkeypatch, clean_now)
    assert not isinstance(result, list), [r.run_key for r in result]
    assert alert_env.sent() == []
