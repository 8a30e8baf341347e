"""The dbt project as Dagster assets: daily partitions, single-run backfills, tests as checks."""

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Config,
    DailyPartitionsDefinition,
    MetadataValue,
    Output,
)
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from pydantic import Field, field_validator

from feedpulse.clickhouse import ensure_server, get_client
from feedpulse.config import settings
from feedpulse.etl import PartitionSettings, dbt_vars, first_source_day
from feedpulse.identifiers import check_identifier
from orchestration.manifest import load_manifest
from orchestration.project import dbt_project
from orchestration.resources import ClickHouseResource

# `dagster dev` parses the project on every load; anywhere else the manifest comes from the build
# step (`make manifest`, the image build) and a missing or stale one stops the load, naming it.
dbt_project.prepare_if_dev()
manifest = load_manifest(dbt_project, settings().source_database)


def _first_source_day():
    """Looked up once per process, and only when FEEDPULSE_START_DATE is unset."""
    client = get_client(settings=ensure_server())
    try:
        return first_source_day(client, settings().source_database)
    finally:
        client.close()


partition_settings = PartitionSettings.resolve(_first_source_day)
daily_partitions = DailyPartitionsDefinition(
    start_date=partition_settings.start_date.isoformat(), timezone=partition_settings.timezone
)

REJECTED_EVENTS_KEY = AssetKey(["analytics", "stg_rejected_events"])


class DailyEtlConfig(Config):
    """Run config of the daily ETL (all optional)."""

    source_database: str = Field(
        default="", description="Database of the raw event tables for this run (default: FEEDPULSE_SOURCE_DATABASE)."
    )

    @field_validator("source_database")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        """The identifier policy, at the launchpad: a hostile name fails the run config, before dbt."""
        return check_identifier(value, "source_database") if value else value


class FeedpulseDbtTranslator(DagsterDbtTranslator):
    """Asset keys are [database, table] (in dbt-clickhouse the schema is the database), so a
    dbt source lines up with the external source asset of the same table."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["alias"] or dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if len(fqn) > 2 and fqn[1] == "realtime":
            return "alerts"  # metrics_15min: refreshed for the anomaly sensor, not by the daily ETL
        return f"etl_{fqn[1]}" if len(fqn) > 2 else "etl"


translator = FeedpulseDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=manifest,
    project=dbt_project,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    pool="dbt",  # dbt-clickhouse cannot run concurrently on the same models: one dbt run at a time
    name="daily_etl",
    exclude="metrics_15min",  # orchestration/alerts_assets.py refreshes it for the anomaly sensor
)
def daily_etl_assets(
    context: AssetExecutionContext, config: DailyEtlConfig, dbt: DbtCliResource, clickhouse: ClickHouseResource
) -> Iterator:
    """`dbt build` (models + tests) for the partition window; one invocation for a whole backfill."""
    clickhouse.ensure_server()
    window = context.partition_time_window
    extra = {"source_database": config.source_database} if config.source_database else {}
    variables = dbt_vars(window.start, window.end, **extra)
    context.log.info(f"dbt build for [{variables['start_date']}, {variables['end_date']})")
    invocation = dbt.cli(["build", *indirect_selection_args(context), "--vars", json.dumps(variables)], context=context)
    for event in invocation.stream():
        if isinstance(event, Output) and context.asset_key_for_output(event.output_name) == REJECTED_EVENTS_KEY:
            event = event.with_metadata({**event.metadata, **_rejected_metadata(clickhouse, variables)})
        yield event


def indirect_selection_args(context: AssetExecutionContext) -> list[str]:
    """`--indirect-selection cautious` unless the run deselects some checks of its assets.

    dbt's default (eager) adds every test with *any* selected parent: materializing a subset (the
    staging layer, one report with its upstream) would run e.g. the reconciliation of
    daily_slice_metrics against staging, which fails on a fresh install where that table was never
    built (and checks stale days on an old one). Cautious runs a test only when all its parents are
    in the run. When checks of selected assets are deselected, dagster-dbt lists the tests itself
    with indirect selection `empty`, which a command-line flag would override: leave it alone then.
    """
    assets_def = context.assets_def
    selected_assets = context.selected_asset_keys
    checks_of_selected = {
        spec.key for spec in assets_def.node_check_specs_by_output_name.values() if spec.asset_key in selected_assets
    }
    if checks_of_selected <= set(context.selected_asset_check_keys):
        return ["--indirect-selection", "cautious"]
    return []


def _rejected_metadata(clickhouse: ClickHouseResource, variables: Mapping[str, object]) -> dict[str, Any]:
    rows = (
        clickhouse.get_client()
        .query(
            "SELECT source_table, reason, sum(rejected_rows) FROM analytics.stg_rejected_events "
            "WHERE event_date >= {start:Date} AND event_date < {end:Date} GROUP BY source_table, reason "
            "ORDER BY source_table, reason",
            parameters={"start": variables["start_date"], "end": variables["end_date"]},
        )
        .result_rows
    )
    table = "\n".join(f"| {t} | {r} | {n:,} |" for t, r, n in rows)
    return {
        "rejected_rows": MetadataValue.int(int(sum(n for _, _, n in rows))),
        "rejected_by_reason": MetadataValue.md(
            "| table | reason | rows |\n| --- | --- | --- |\n" + table if rows else "no rejected rows"
        ),
    }
