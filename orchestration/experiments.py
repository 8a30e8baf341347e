"""Experiment assets: ``aa_test_<id>`` and ``ab_test_<id>`` for each experiment defined in the
YAML file named by FEEDPULSE_EXPERIMENTS (see feedpulse.experiments.definitions)."""

import os

from dagster import AssetKey, AssetsDefinition, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from feedpulse.experiments.definitions import asset_id, configured
from feedpulse.experiments.pipeline import ExperimentReport, run_aa_experiment, run_ab_experiment, send
from feedpulse.simulator.experiment import ExperimentSpec
from orchestration.resources import ClickHouseResource


class ExperimentConfig(Config):
    lang: str = Field(default="en", description="Report language: en or ru.")
    seed: int = Field(default=42, description="Seed of the simulations and the bootstrap.")
    send: bool = Field(default=True, description="Deliver the report to Telegram (or the outbox).")


def _source_database() -> str:
    return os.environ.get("FEEDPULSE_SOURCE_DATABASE", "simulator")


def _result(report: ExperimentReport, config: ExperimentConfig, day) -> MaterializeResult:
    receipt = send(report, day) if config.send else None
    return MaterializeResult(metadata={
        "report": MetadataValue.md(report.markdown_with_images()),
        "result": MetadataValue.json(report.result.to_dict()),
        "destination": MetadataValue.text(receipt.destination if receipt else "not sent"),
    })


def aa_asset(spec: ExperimentSpec) -> AssetsDefinition:
    window = spec.aa

    @asset(key=["experiments", f"aa_test_{asset_id(spec.id)}"], group_name="experiments",
           deps=[AssetKey([_source_database(), "feed_actions"])], kinds={"scipy"},
           description=f"A/A test of the split system for {spec.id}: groups {window.groups} over "
           f"{window.start}..{window.end}, 10,000 simulations of 500 users per group.")
    def aa_test(config: ExperimentConfig, clickhouse: ClickHouseResource) -> MaterializeResult:
        report = run_aa_experiment(clickhouse.get_client(), spec, database=_source_database(), seed=config.seed,
                                   lang=config.lang)
        return _result(report, config, window.end)

    return aa_test


def ab_asset(spec: ExperimentSpec) -> AssetsDefinition:
    window = spec.ab

    @asset(key=["experiments", f"ab_test_{asset_id(spec.id)}"], group_name="experiments",
           deps=[AssetKey([_source_database(), "feed_actions"])], kinds={"scipy"},
           description=f"A/B analysis of CTR for {spec.id}: control {window.control} vs treatment "
           f"{window.treatment} over {window.start}..{window.end}.")
    def ab_test(config: ExperimentConfig, clickhouse: ClickHouseResource) -> MaterializeResult:
        report = run_ab_experiment(clickhouse.get_client(), spec, database=_source_database(), seed=config.seed,
                                   lang=config.lang)
        return _result(report, config, window.end)

    return ab_test


def experiment_assets(specs: list[ExperimentSpec] | None = None) -> list[AssetsDefinition]:
    specs = configured() if specs is None else specs
    assets: list[AssetsDefinition] = []
    for spec in specs:
        if spec.aa is not None:
            assets.append(aa_asset(spec))
        if spec.ab is not None:
            assets.append(ab_asset(spec))
    return assets
