"""Experiment assets: ``aa_test_<id>`` and ``ab_test_<id>`` for each experiment defined in the
YAML file named by FEEDPULSE_EXPERIMENTS (see feedpulse.experiments.definitions)."""

from dagster import AssetKey, AssetsDefinition, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from feedpulse.config import language
from feedpulse.experiments.definitions import asset_id, configured
from feedpulse.experiments.pipeline import ExperimentReport, run_aa_experiment, run_ab_experiment, send
from feedpulse.experiments.report import result_json
from feedpulse.experiments.spec import ExperimentSpec
from orchestration.resources import ClickHouseResource


class ExperimentConfig(Config):
    lang: str = Field(default="", description="Report language: ru or en (default: FEEDPULSE_LANGUAGE, else ru).")
    seed: int = Field(default=42, description="Seed of the simulations and the bootstrap.")
    send: bool = Field(default=True, description="Deliver the report to Telegram (or the outbox).")
    resend: bool = Field(
        default=False,
        description="Send a new copy to chats that already got this report (an interrupted delivery is "
        "completed either way, each part once).",
    )


def _result(report: ExperimentReport, config: ExperimentConfig, lang: str, day) -> MaterializeResult:
    receipt = send(report, day, resend=config.resend) if config.send else None
    return MaterializeResult(
        metadata={
            "report": MetadataValue.md(report.markdown_with_images()),
            "result": MetadataValue.json(result_json(report.result, lang)),
            "destination": MetadataValue.text(receipt.destination if receipt else "not sent"),
            "delivery": MetadataValue.text(receipt.summary() if receipt else "-"),
        }
    )


def _describe(spec: ExperimentSpec, kind: str) -> str:
    if kind == "aa":
        return (
            f"A/A test of the split system for {spec.id}: groups {spec.aa.groups} over {spec.aa.start}.."
            f"{spec.aa.end}, 10,000 simulations of 500 users per group."
        )
    return (
        f"A/B analysis of CTR for {spec.id}: control {spec.ab.control} vs treatment {spec.ab.treatment} over "
        f"{spec.ab.start}..{spec.ab.end}."
    )


def experiment_asset(spec: ExperimentSpec, kind: str) -> AssetsDefinition:
    """``aa_test_<id>`` (kind "aa") or ``ab_test_<id>`` (kind "ab") of one experiment."""
    runner = {"aa": run_aa_experiment, "ab": run_ab_experiment}[kind]
    window = spec.aa if kind == "aa" else spec.ab

    @asset(
        key=["experiments", f"{kind}_test_{asset_id(spec.id)}"],
        group_name="experiments",
        deps=[AssetKey(["analytics", "user_daily"])],  # per-user views and likes, as the marts count them
        kinds={"scipy"},
        description=_describe(spec, kind),
    )
    def experiment_test(config: ExperimentConfig, clickhouse: ClickHouseResource) -> MaterializeResult:
        lang = language(config.lang)
        report = runner(clickhouse.get_client(), spec, seed=config.seed, lang=lang)
        return _result(report, config, lang, window.end)

    return experiment_test


def experiment_assets(specs: list[ExperimentSpec] | None = None) -> list[AssetsDefinition]:
    specs = configured() if specs is None else specs
    assets: list[AssetsDefinition] = []
    for spec in specs:
        if spec.aa is not None:
            assets.append(experiment_asset(spec, "aa"))
        if spec.ab is not None:
            assets.append(experiment_asset(spec, "ab"))
    return assets
