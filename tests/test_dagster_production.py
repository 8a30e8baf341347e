"""The production Dagster instance, run for real (issue 19).

deploy/dagster/dagster.yaml — unchanged; only the environment names the test's PostgreSQL database
and the session's ClickHouse endpoint — with the real processes: a code server (`dagster api grpc`),
`dagster-daemon run` and `dagster-webserver`. Runs are submitted as the UI submits them (GraphQL)
and checked in the instance's PostgreSQL storage and in ClickHouse.

Dates are pinned (FEEDPULSE_START_DATE for the code location); nothing depends on today.
Skipped with the reason when PostgreSQL does not answer (FEEDPULSE_TEST_POSTGRES_DSN); a failure
instead when FEEDPULSE_REQUIRE_POSTGRES is set (CI).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml

from tests.conftest import free_port
from tests.dagster_stack import (
    DEPLOY_DAGSTER_YAML,
    LOCATION,
    REPOSITORY,
    DagsterStack,
    PostgresServer,
    descendants,
    kill_tree,
    prepare_manifest,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.dbt, pytest.mark.postgres]

SOURCE_DB = "dagprod_sim"
START = dt.date(2025, 6, 1)  # FEEDPULSE_START_DATE of the code location: the first partition
DAYS = [START + dt.timedelta(days=i) for i in range(9)]  # simulated source days
ETL_JOB = "daily_etl_job"
FINAL_TABLE = "test.daily_slice_metrics"
FINAL_ASSET = ["test", "daily_slice_metrics"]
TZ = ZoneInfo("Europe/Moscow")  # FEEDPULSE_TIMEZONE's default: the schedule's and the data's timezone
# The anomaly sensor's "now" in the code server: midday of the day after the simulated days — the
# last complete bucket has no events while the same slot of the days before had plenty (no-data).
SENSOR_NOW = dt.datetime.combine(DAYS[-1] + dt.timedelta(days=1), dt.time(12, 35))

INSTANCE = yaml.safe_load(DEPLOY_DAGSTER_YAML.read_text())
MONITORING = INSTANCE["run_monitoring"]
# A killed run's dbt slot must be free within: the slot's grace period after the run ended, two
# polls of the monitoring daemon (one may just have passed), and 30 s for a loaded machine. The
# next run's own start (process launch, code load) is not part of the guarantee: it only has to come.
# Upper bounds for waits that only a failure reaches: an ETL run took 8 minutes at load average 20.
RUN_TIMEOUT = 1200
SLOT_FREED_WITHIN = MONITORING["free_slots_after_run_end_seconds"] + 2 * MONITORING["poll_interval_seconds"] + 30


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source_data(ch_client):
    from feedpulse.simulator import simulate

    simulate(ch_client, start=DAYS[0], days=len(DAYS), scale=0.03, seed=19, database=SOURCE_DB)
    # metrics_15min has no source column and is refreshed from its last stored bucket: start it anew
    # for this source (as tests/test_alerts_e2e.py does for its own)
    ch_client.command("DROP TABLE IF EXISTS analytics.metrics_15min")
    return ch_client


@pytest.fixture(scope="module")
def idle_stack(postgres_server: PostgresServer, localhouse, source_data, tmp_path_factory) -> Iterator[DagsterStack]:
    """deploy/dagster/dagster.yaml as shipped, on a new PostgreSQL database: code server and
    webserver; the daemon is started by ``stack`` (after the schedule's tick)."""
    with postgres_server.scratch_database("feedpulse_dagster") as database:
        env = process_env(localhouse, postgres_server.dagster_env(database), tmp_path_factory.mktemp("dbt_manifest"))
        prepare_manifest(env)  # for SOURCE_DB, in the module's own folder: other modules' manifest is untouched
        home = tmp_path_factory.mktemp("dagster_home")
        stack = DagsterStack(home, env, free_port(), free_port(), DEPLOY_DAGSTER_YAML.read_text())
        try:
            stack.start_code_server(clock=SENSOR_NOW)
            stack.start_webserver()
            yield stack
        finally:
            stack.stop()


def process_env(localhouse, dagster_pg: dict[str, str], manifest_dir: Path) -> dict[str, str]:
    """The environment of the Dagster processes: as in production, plus this session's endpoint and
    the folder of the dbt manifest prepared for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "DAGSTER_", "TELEGRAM_", "PG"))}
    env.update(
        FEEDPULSE_HOME=os.environ["FEEDPULSE_HOME"],
        CLICKHOUSE_PORT=str(localhouse.port),
        CLICKHOUSE_USER=localhouse.user,
        CLICKHOUSE_PASSWORD=localhouse.password,
        FEEDPULSE_START_DATE=START.isoformat(),
        FEEDPULSE_SOURCE_DATABASE=SOURCE_DB,
        FEEDPULSE_DBT_MANIFEST_DIR=str(manifest_dir),
        FEEDPULSE_ALERT_INTERVAL_SECONDS="30",
        DAGSTER_DISABLE_TELEMETRY="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DO_NOT_TRACK="1",
        **dagster_pg,
    )
    return env


@pytest.fixture(scope="module")
def scheduled_tick(idle_stack: DagsterStack) -> Any:
    """The 00:30 tick of the day after DAYS[7], evaluated before the daemon runs (so no other tick exists)."""
    return tick_schedule_at(idle_stack, dt.datetime.combine(DAYS[8], dt.time(0, 30), tzinfo=TZ))


@pytest.fixture(scope="module")
def stack(idle_stack: DagsterStack, scheduled_tick) -> DagsterStack:
    """The whole instance: code server, webserver and `dagster-daemon run`."""
    idle_stack.start_daemon()
    return idle_stack


def instance_of(stack: DagsterStack):
    return stack.instance()


# --- GraphQL: what the UI sends ----------------------------------------------------------------------

LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""


def launch_etl(stack: DagsterStack, day: dt.date, tags: dict[str, str] | None = None) -> str:
    """The launchpad's "Launch run" of daily_etl_job for one partition; returns the run id."""
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": ETL_JOB},
        "runConfigData": {},
        "mode": "default",
        "executionMetadata": {
            "tags": [{"key": k, "value": v} for k, v in {"dagster/partition": day.isoformat(), **(tags or {})}.items()]
        },
    }
    result = stack.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


# --- instance helpers ---------------------------------------------------------------------------------


def run_status(instance, run_id: str) -> str:
    return instance.get_run_by_id(run_id).status.value


def wait_run_finished(instance, run_id: str, timeout: float) -> str:
    from dagster import DagsterRunStatus

    def finished() -> str | None:
        run = instance.get_run_by_id(run_id)
        return (
            run.status.value
            if run.status in {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
            else None
        )

    return wait_for(f"run {run_id} to finish", finished, timeout, interval=1)


def step_start_time(instance, run_id: str) -> float | None:
    from dagster import DagsterEventType

    events = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
    return events[0].timestamp if events else None


def run_worker_pid(instance, run_id: str) -> int | None:
    from dagster import DagsterEventType

    for event in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        match = re.search(r"Started process for run \(pid: (\d+)\)", event.message or "")
        if match:
            return int(match.group(1))
    return None


def dbt_running_under(pid: int) -> bool:
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"/dbt") or part == b"dbt" for part in cmdline[:2]) and b"build" in cmdline:
            return True
    return False


def dbt_slot_holders(instance) -> set[str]:
    return instance.event_log_storage.get_concurrency_info("dbt").active_run_ids


def wait_queue_drained(instance, timeout: float) -> None:
    from dagster import DagsterRunStatus, RunsFilter

    busy = [
        DagsterRunStatus.QUEUED,
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
        DagsterRunStatus.CANCELING,
    ]
    wait_for("every run to finish", lambda: not instance.get_run_records(RunsFilter(statuses=busy)), timeout, 2)


def report_measured(instance, what: str, run_ids: list[str]) -> None:
    """Print queue → start and run times (docs/production.md quotes them)."""
    records = [instance.get_run_record_by_id(run_id) for run_id in run_ids]
    print(
        json.dumps(
            {
                f"{what}: created → started (s)": [
                    round(r.start_time - r.create_timestamp.timestamp(), 1) for r in records
                ],
                f"{what}: run time (s)": [round(r.end_time - r.start_time, 1) for r in records],
            },
            ensure_ascii=False,
        )
    )


def slices(client, days: list[dt.date]) -> pd.DataFrame:
    frame = client.query_df(
        "SELECT event_date, dimension, dimension_value, views, likes, messages_received, messages_sent, "
        f"users_received, users_sent FROM {FINAL_TABLE} WHERE event_date IN {{days:Array(Date)}} "
        "ORDER BY event_date, dimension, dimension_value",
        parameters={"days": days},
    )
    frame["event_date"] = pd.to_datetime(frame["event_date"]).dt.date
    return frame.reset_index(drop=True)


# --- the daily schedule ---------------------------------------------------------------------------------


def tick_schedule_at(stack: DagsterStack, when: dt.datetime) -> Any:
    """One tick of daily_etl_schedule at ``when`` through Dagster's scheduler (what the daemon's
    SchedulerDaemon runs each iteration), against the instance and the code server; the schedule
    is running only for that evaluation. Returns the tick."""
    import logging

    import dagster._daemon.daemon  # noqa: F401  (imported first: the scheduler module's import cycle)
    import dagster._scheduler.scheduler as scheduler
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        InstigatorType,
        ScheduleInstigatorData,
    )
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._utils.error import SerializableErrorInfo

    with (
        instance_of(stack) as instance,
        WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(stack.workspace)])) as context,
    ):
        repository = context.create_request_context().get_code_location(LOCATION).get_repository(REPOSITORY)
        schedule = repository.get_schedule("daily_etl_schedule")
        started = (when - dt.timedelta(minutes=1)).timestamp()
        state = ScheduleInstigatorData(schedule.cron_schedule, start_timestamp=started)
        instance.add_instigator_state(
            InstigatorState(schedule.get_remote_origin(), InstigatorType.SCHEDULE, InstigatorStatus.RUNNING, state)
        )
        until = (when + dt.timedelta(seconds=30)).astimezone(dt.timezone.utc)
        try:
            with pytest.MonkeyPatch.context() as patch:
                # the scheduler's clock at the chosen time too (it purges ticks older than 30 days from "now")
                patch.setattr(scheduler, "get_current_datetime", lambda tz="UTC": until.astimezone(ZoneInfo(tz)))
                outcome = list(scheduler.launch_scheduled_runs(context, logging.getLogger("scheduler"), until, {}))
            errors = [item for item in outcome if isinstance(item, SerializableErrorInfo)]
            assert not errors, errors[0].to_string()
        finally:
            instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
        [tick] = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
        return tick


@pytest.fixture(scope="module")
def scheduled_run(stack: DagsterStack, scheduled_tick, source_data) -> dict[str, Any]:
    """The scheduled run, dequeued and run by the daemon, and the day's rows it left."""
    with instance_of(stack) as instance:
        [run_id] = scheduled_tick.run_ids
        status = wait_run_finished(instance, run_id, RUN_TIMEOUT)
        run = instance.get_run_by_id(run_id)
    return {"tick": scheduled_tick, "run": run, "status": status, "slices": slices(source_data, [DAYS[7]])}


def test_schedule_tick_requests_yesterday_and_the_run_completes(scheduled_run):
    tick, run = scheduled_run["tick"], scheduled_run["run"]
    assert tick.status.value == "SUCCESS"
    assert dt.datetime.fromtimestamp(tick.timestamp, TZ) == dt.datetime.combine(DAYS[8], dt.time(0, 30), tzinfo=TZ)
    assert run.tags["dagster/partition"] == DAYS[7].isoformat()  # yesterday of the tick, in Moscow time
    assert run.tags["dagster/schedule_name"] == "daily_etl_schedule"
    assert run.tags["feedpulse/dbt"] == "true"
    assert scheduled_run["status"] == "SUCCESS"
    frame = scheduled_run["slices"]
    assert set(frame["dimension"]) == {"os", "gender", "age"} and frame["views"].sum() > 0


# --- two ETL runs requested together ------------------------------------------------------------------------


def dbt_step_window(instance, run_id: str) -> tuple[float, float]:
    from dagster import DagsterEventType

    events = instance.all_logs(
        run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
    )
    times = [event.timestamp for event in events if event.step_key == "daily_etl"]
    return min(times), max(times)


def test_two_etl_runs_requested_together_run_one_after_the_other(stack, scheduled_run, source_data):
    with instance_of(stack) as instance:
        wait_queue_drained(instance, RUN_TIMEOUT)
        first, second = launch_etl(stack, DAYS[7]), launch_etl(stack, DAYS[7])
        statuses = {run_status(instance, first), run_status(instance, second)}
        assert "QUEUED" in statuses  # the second waits in the queue (tag feedpulse/dbt, limit 1)
        assert wait_run_finished(instance, first, RUN_TIMEOUT) == "SUCCESS"
        assert wait_run_finished(instance, second, RUN_TIMEOUT) == "SUCCESS"
        (start_1, end_1), (start_2, end_2) = dbt_step_window(instance, first), dbt_step_window(instance, second)
        assert end_1 <= start_2 or end_2 <= start_1, "the two dbt steps overlapped"
        report_measured(instance, "queued ETL run", [first, second])
    pd.testing.assert_frame_equal(slices(source_data, [DAYS[7]]), scheduled_run["slices"])


# --- a backfill from the UI ------------------------------------------------------------------------------------

ETL_ASSETS = """
query {
  assetNodes(pipeline: {
    repositoryLocationName: "feedpulse", repositoryName: "__repository__", pipelineName: "daily_etl_job"
  }) {
    assetKey { path }
    isExecutable
  }
}
"""

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on UnauthorizedError { message }
  }
}
"""


def test_backfill_of_seven_partitions_from_the_ui_is_one_run(stack, source_data):
    days = DAYS[:7]
    nodes = stack.graphql(ETL_ASSETS)["assetNodes"]
    selection = [{"path": node["assetKey"]["path"]} for node in nodes if node["isExecutable"]]
    assert {"path": FINAL_ASSET} in selection
    params = {"assetSelection": selection, "partitionNames": [d.isoformat() for d in days], "fromFailure": False}
    with instance_of(stack) as instance:
        wait_queue_drained(instance, RUN_TIMEOUT)
        result = stack.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        backfill_id = result["backfillId"]

        def done() -> str | None:
            status = instance.get_backfill(backfill_id).status.value
            return status if status not in {"REQUESTED", "CANCELING"} else None

        assert wait_for("the backfill to finish", done, 2 * RUN_TIMEOUT, 2) == "COMPLETED_SUCCESS"
        from dagster import AssetKey, RunsFilter

        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(runs) == 1, [r.run_id for r in runs]
        assert runs[0].status.value == "SUCCESS"
        assert runs[0].tags["dagster/asset_partition_range_start"] == days[0].isoformat()
        assert runs[0].tags["dagster/asset_partition_range_end"] == days[-1].isoformat()
        materialized = instance.get_materialized_partitions(AssetKey(FINAL_ASSET))
        assert {d.isoformat() for d in days} <= materialized
    frame = slices(source_data, days)
    assert sorted(set(frame["event_date"])) == days
    assert (frame.groupby("event_date")["views"].sum() > 0).all()


# --- the anomaly sensor ----------------------------------------------------------------------------------------


def test_anomaly_sensor_ticks_and_its_alert_runs_complete(stack, source_data):
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.scheduler.instigation import InstigatorType

    with instance_of(stack) as instance:
        [state] = [
            s
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if s.instigator_name == "anomaly_sensor"
        ]

        def ticks_with_runs():
            return [t for t in instance.get_ticks(state.instigator_origin_id, state.selector_id) if t.run_ids]

        def tick_of(job_name: str):
            for tick in ticks_with_runs():
                if {r.job_name for r in instance.get_runs(RunsFilter(run_ids=list(tick.run_ids)))} == {job_name}:
                    return tick
            return None

        def sensor_story() -> str:
            """The sensor's recent ticks (status, skip reason, runs), for a failure message."""
            lines = []
            for t in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=30):
                jobs = sorted({r.job_name for r in instance.get_runs(RunsFilter(run_ids=list(t.run_ids)))})
                statuses = [str(r.status) for r in instance.get_runs(RunsFilter(run_ids=list(t.run_ids)))]
                lines.append(
                    f"{t.status} {t.skip_reason or ''} {t.error.message[:200] if t.error else ''} {jobs} {statuses}"
                )
            return "\n".join(lines)

        def refresh_that_succeeded():
            for t in ticks_with_runs():
                for run in instance.get_runs(RunsFilter(run_ids=list(t.run_ids))):
                    if run.job_name == "metrics_15min_job" and run.status == DagsterRunStatus.SUCCESS:
                        return run
            return None

        # issue 16: the sensor first requests the metrics_15min refresh (dbt; it writes no table itself) …
        try:
            refresh_run = wait_for("a metrics_15min refresh requested by the sensor", refresh_that_succeeded, 900, 2)
            assert (
                refresh_run.run_config["ops"]["metrics_15min_refresh"]["config"]["end_date"]
                == (SENSOR_NOW.date() + dt.timedelta(days=1)).isoformat()
            )  # the days fixed by the sensor's (pinned) clock, not the run worker's
            # … and evaluates the bucket on a later tick, from the refreshed table
            tick = wait_for("an anomaly_sensor tick that requested alert runs", lambda: tick_of("alert_job"), 600, 2)
        except TimeoutError as error:
            raise AssertionError(f"{error}; the sensor's ticks, newest first:\n{sensor_story()}") from error
        bucket = SENSOR_NOW.replace(minute=15)
        assert tick.cursor == bucket.isoformat()
        runs = instance.get_runs(RunsFilter(run_ids=list(tick.run_ids)))
        for run in runs:
            assert wait_run_finished(instance, run.run_id, RUN_TIMEOUT) == "SUCCESS", run.run_id
            payload = json.loads(run.run_config["ops"]["send_alert"]["config"]["notification"])
            assert payload["bucket"] == bucket.isoformat() and payload["kind"]
        kinds = {json.loads(r.run_config["ops"]["send_alert"]["config"]["notification"])["kind"] for r in runs}
        print(json.dumps({"alert_runs": len(runs), "kinds": sorted(kinds)}))
        starts = [instance.get_run_record_by_id(r.run_id).start_time for r in runs]
        gaps = [round(s - tick.timestamp, 1) for s in starts]
        print(json.dumps({"sensor tick → alert run started (s)": gaps}, ensure_ascii=False))


# --- a killed ETL run does not block the next one ------------------------------------------------------

MONITORING_OFF = yaml.safe_dump({**INSTANCE, "run_monitoring": {**MONITORING, "enabled": False}}, sort_keys=False)


@pytest.mark.parametrize("monitoring", ["on", "off"])
def test_killed_etl_run_frees_its_dbt_slot_and_the_next_run_starts(monitoring, stack):
    """Kill the run's whole process tree (as a lost container or the OOM killer's sweep would) while
    dbt builds; the queued ETL run must get the `dbt` slot within the configured time. "off": the
    same instance file with `run_monitoring: enabled: false`, run by its own daemon — there the
    slot stays taken past the same bound and the next run waits (the fault this setting fixes)."""
    day = DAYS[7]
    with stack.other_daemon(MONITORING_OFF) if monitoring == "off" else nullcontext(), instance_of(stack) as instance:
        wait_queue_drained(instance, RUN_TIMEOUT)
        # the killed run is not retried here (run_retries would queue a second ETL run behind the next one)
        killed = launch_etl(stack, day, {"dagster/max_retries": "0"})
        pid = wait_for("the killed run's worker", lambda: run_worker_pid(instance, killed), 600, 0.5)
        wait_for("dbt build running in the killed run", lambda: dbt_running_under(pid), 600, 0.2)
        assert dbt_slot_holders(instance) == {killed}
        following = launch_etl(stack, day)
        time.sleep(2)
        assert run_status(instance, following) == "QUEUED"

        killed_at = time.time()
        kill_tree(pid)
        assert wait_run_finished(instance, killed, 60) == "FAILURE"
        failed_after = time.time() - killed_at
        freed = lambda: killed not in dbt_slot_holders(instance)  # noqa: E731
        if monitoring == "off":
            # the fault of issue 12: the slot stays taken past the bound, and the next run waits
            with pytest.raises(TimeoutError):
                wait_for("the killed run's dbt slot to be freed", freed, SLOT_FREED_WITHIN, 1)
            assert dbt_slot_holders(instance) == {killed} and step_start_time(instance, following) is None
            return
        wait_for("the killed run's dbt slot to be freed", freed, SLOT_FREED_WITHIN, 1)
        freed_after = time.time() - killed_at
        next_step = lambda: step_start_time(instance, following)  # noqa: E731
        started = wait_for("the next ETL run's dbt step to start", next_step, RUN_TIMEOUT, 1)
        assert wait_run_finished(instance, following, RUN_TIMEOUT) == "SUCCESS"
        measured = {
            "killed run marked failed after (s)": round(failed_after, 1),
            "its dbt slot freed after (s)": round(freed_after, 1),
            "next run's dbt step started after (s)": round(started - killed_at, 1),
        }
        print(json.dumps(measured, ensure_ascii=False))
