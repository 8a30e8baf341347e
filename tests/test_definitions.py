"""The Dagster code location loads (what `dagster dev -w workspace.yaml` does first) with the
shape of the original task: two per-user extracts → join → three slices → final table."""

from __future__ import annotations

import pytest
from dagster import AssetKey, Definitions


def key(path: str) -> AssetKey:
    return AssetKey(path.split("/"))


def test_definitions_load_with_schedule_and_graph_shape():
    from orchestration.definitions import defs

    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert key("simulator/feed_actions") in keys and key("simulator/message_actions") in keys

    parents = {k: set(graph.get(k).parent_keys) for k in keys}
    assert {key("analytics/int_feed_user_daily"), key("analytics/int_message_user_daily")} <= parents[
        key("analytics/user_daily")
    ]
    assert key("analytics/int_message_user_daily") not in parents[key("analytics/int_feed_user_daily")]
    for dimension in ("os", "gender", "age"):
        assert parents[key(f"analytics/slice_{dimension}")] == {key("analytics/user_daily")}
    assert parents[key("test/daily_slice_metrics")] == {
        key("analytics/slice_os"),
        key("analytics/slice_gender"),
        key("analytics/slice_age"),
    }

    etl = graph.get(key("test/daily_slice_metrics"))
    assert etl.partitions_def is not None and etl.partitions_def.timezone == "Europe/Moscow"
    assert etl.backfill_policy.max_partitions_per_run is None  # single run
    assert any(c.asset_key == key("test/daily_slice_metrics") for c in graph.asset_check_keys)

    schedule = defs.get_schedule_def("daily_etl_schedule")
    assert schedule.cron_schedule == "30 0 * * *"
    assert schedule.execution_timezone == "Europe/Moscow"


def test_a_manifest_fits_only_its_project_files_and_source_database(tmp_path):
    """Pure checks of a prepared manifest (orchestration/manifest.py), on a made-up project."""
    import os

    from orchestration.manifest import newest_project_file, source_databases, why_unusable

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "target" / "dagster").mkdir(parents=True)
    model = project / "models" / "user_daily.sql"
    model.write_text("select 1")
    (project / "target" / "dagster" / "compiled.sql").write_text("select 1")  # dbt's output: not a source
    os.utime(model, (1_000, 1_000))
    os.utime(project / "target" / "dagster" / "compiled.sql", (5_000, 5_000))
    manifest = {"sources": {"source.a": {"schema": "simulator"}, "source.b": {"schema": "simulator"}}}

    assert newest_project_file(project, project / "target" / "dagster") == model
    assert source_databases(manifest) == {"simulator"}
    assert why_unusable(manifest, 2_000, project, project / "target" / "dagster", "simulator") is None
    assert why_unusable(manifest, 500, project, project / "target" / "dagster", "simulator") == (
        "is older than models/user_daily.sql"  # an edited model
    )
    assert why_unusable(manifest, 2_000, project, project / "target" / "dagster", "app") == (
        "has its dbt sources in simulator, while FEEDPULSE_SOURCE_DATABASE is app"  # sources would point elsewhere
    )


def test_loading_a_missing_or_foreign_manifest_names_the_command_that_prepares_it(tmp_path):
    from dagster_dbt import DbtProject

    from feedpulse.config import settings
    from orchestration.manifest import ManifestError, load_manifest
    from orchestration.project import DBT_PROJECT_DIR, dbt_project

    assert load_manifest(dbt_project, settings().source_database)["sources"]  # as `make manifest` left it
    with pytest.raises(ManifestError, match=r"FEEDPULSE_SOURCE_DATABASE is another_source.*`make manifest`"):
        load_manifest(dbt_project, "another_source")
    elsewhere = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=tmp_path)
    with pytest.raises(ManifestError, match=r"is missing.*`make manifest`"):
        load_manifest(elsewhere, settings().source_database)


def test_a_dbt_run_by_hand_does_not_touch_dagsters_manifest(tmp_path):
    """The README's "By hand" recipe with another source_database used to rewrite target/manifest.json,
    and Dagster then showed a phantom `other_db/feed_actions` asset (issue 12)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from feedpulse.config import settings
    from orchestration.manifest import load_manifest
    from orchestration.project import dbt_project

    project_dir = Path(dbt_project.project_dir)
    assert dbt_project.manifest_path != project_dir / "target" / "manifest.json"
    before = dbt_project.manifest_path.read_bytes()
    dbt = str(Path(sys.executable).parent / "dbt")
    subprocess.run(
        [dbt, "parse", "--profiles-dir", ".", "--log-path", str(tmp_path), "--vars", "{source_database: other_db}"],
        cwd=project_dir,
        check=True,
        capture_output=True,
    )  # by hand, from the project folder: dbt's default target/
    by_hand = json.loads((project_dir / "target" / "manifest.json").read_text())
    assert {s["schema"] for s in by_hand["sources"].values()} == {"other_db"}

    assert dbt_project.manifest_path.read_bytes() == before
    load_manifest(dbt_project, settings().source_database)  # and it still fits: nothing to prepare again
    schemas = {s["schema"] for s in json.loads(before)["sources"].values()}
    assert "other_db" not in schemas
