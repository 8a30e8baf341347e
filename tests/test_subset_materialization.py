"""Any subset a user can select in the Dagster UI runs on a fresh install (issue 13).

Materializing one report with its upstream, one slice with its upstream, or the staging layer
alone used to fail: dbt's eager indirect selection added the singular test
`daily_slice_metrics_reconcile_with_staging` (a parent, staging, was selected), which then read
`test.daily_slice_metrics` — never built. Each subset runs here on an empty ETL database (the
source stays), and only tests whose parents were all built run.
"""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

pytestmark = [pytest.mark.integration, pytest.mark.dbt]

SOURCE_DB = "subset_sim"
RECONCILE_CHECK = "daily_slice_metrics_reconcile_with_staging"


def first_days() -> list[dt.date]:
    """The first three days of the configured partitions (their start is configuration, not the clock)."""
    from orchestration.dbt import daily_partitions

    first = dt.date.fromisoformat(daily_partitions.get_first_partition_key())
    return [first + dt.timedelta(days=offset) for offset in range(3)]


@pytest.fixture(scope="module")
def source(ch_client):
    from feedpulse.simulator import simulate

    simulate(ch_client, start=first_days()[0], days=3, scale=0.02, seed=31, database=SOURCE_DB)
    return ch_client


def fresh_install(client) -> None:
    client.command("DROP DATABASE IF EXISTS analytics")
    client.command("DROP DATABASE IF EXISTS test")


@pytest.fixture(autouse=True)
def empty_etl(source):
    fresh_install(source)
    yield
    fresh_install(source)


def materialize_subset(selection: AssetSelection, day: dt.date, extra_assets: tuple = ()):
    from orchestration.dbt import daily_etl_assets
    from orchestration.definitions import defs

    result = materialize(
        [daily_etl_assets, *extra_assets],
        selection=selection,
        partition_key=day.isoformat(),
        instance=DagsterInstance.ephemeral(),
        resources={"dbt": defs.resources["dbt"], "clickhouse": defs.resources["clickhouse"]},
        run_config={"ops": {"daily_etl": {"config": {"source_database": SOURCE_DB}}}},
        raise_on_error=False,
    )
    assert result.success, [str(e.event_specific_data) for e in result.all_events if e.is_failure]
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    checks = {e.check_name for e in result.get_asset_check_evaluations()}
    return materialized, checks


def key(path: str) -> AssetKey:
    return AssetKey(path.split("/"))


def test_staging_alone(source):
    day = first_days()[1]
    materialized, checks = materialize_subset(AssetSelection.groups("etl_staging"), day)
    assert key("analytics/stg_rejected_events") in materialized
    assert key("test/daily_slice_metrics") not in materialized
    assert RECONCILE_CHECK not in checks
    assert not source.command("EXISTS TABLE test.daily_slice_metrics")
    assert (
        source.command(
            "SELECT count() FROM analytics.stg_feed_actions WHERE event_date = {d:Date}", parameters={"d": day}
        )
        > 0
    )


def test_one_slice_with_its_upstream(source):
    day = first_days()[2]
    materialized, checks = materialize_subset(AssetSelection.assets(key("analytics/slice_os")).upstream(), day)
    assert key("analytics/slice_os") in materialized and key("analytics/user_daily") in materialized
    assert key("test/daily_slice_metrics") not in materialized
    assert RECONCILE_CHECK not in checks
    assert "distinct_peers_reconcile" in checks  # its parents were both built, so it ran
    views = source.command(
        "SELECT sum(views) FROM analytics.slice_os WHERE event_date = {d:Date}", parameters={"d": day}
    )
    raw_views = source.command(
        f"SELECT count() FROM {SOURCE_DB}.feed_actions WHERE toDate(time) = {{d:Date}} AND action = 'view'",
        parameters={"d": day},
    )
    assert views == raw_views > 0


def test_one_report_with_its_upstream(source):
    from feedpulse.charts import chromium_path

    if chromium_path() is None:
        pytest.skip("chromium is not installed (the report renders charts)")
    from orchestration.reports import feed_report

    day = first_days()[1]
    selection = AssetSelection.assets(feed_report).upstream().materializable()
    materialized, checks = materialize_subset(selection, day, extra_assets=(feed_report,))
    assert key("reports/feed_report") in materialized and key("analytics/metrics_daily") in materialized
    assert RECONCILE_CHECK not in checks
    assert not source.command("EXISTS TABLE test.daily_slice_metrics")


def test_the_whole_etl_still_runs_the_reconciliation(source):
    materialized, checks = materialize_subset(AssetSelection.all(), first_days()[0])
    assert key("test/daily_slice_metrics") in materialized
    assert RECONCILE_CHECK in checks
