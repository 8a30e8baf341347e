"""The one Dagster ``Definitions`` of feedpulse (loaded by workspace.yaml)."""

from __future__ import annotations

from dagster import Definitions
from dagster_dbt import DbtCliResource

from orchestration.alerts_assets import metrics_15min_assets, metrics_refresh_job, metrics_refresh_schedule
from orchestration.assets import source_assets
from orchestration.dbt import daily_etl_assets
from orchestration.experiments import experiment_assets
from orchestration.project import DBT_EXECUTABLE, dbt_project
from orchestration.reports import report_assets
from orchestration.resources import ClickHouseResource
from orchestration.schedules import jobs, schedules
from orchestration.sensors import sensors

defs = Definitions(
    assets=[*source_assets, daily_etl_assets, *report_assets, *experiment_assets(), metrics_15min_assets],
    jobs=[*jobs, metrics_refresh_job],
    schedules=[*schedules, metrics_refresh_schedule],
    sensors=sensors,
    resources={
        "clickhouse": ClickHouseResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    },
)
