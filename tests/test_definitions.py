"""The Dagster code location loads (what `dagster dev -w workspace.yaml` does first) with the
shape of the original task: two per-user extracts → join → three slices → final table."""

from __future__ import annotations

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


def test_manifest_reparsed_only_when_project_or_environment_changes(monkeypatch):
    import os
    import time

    from orchestration.dbt import DBT_EXECUTABLE, dbt_project
    from orchestration.manifest import ensure_manifest, manifest_is_fresh

    # Other modules' Dagster processes (another FEEDPULSE_SOURCE_DATABASE) may have re-parsed the shared
    # manifest since the import: bring it in step with this process first, as loading the definitions does.
    ensure_manifest(dbt_project, DBT_EXECUTABLE)
    assert manifest_is_fresh(dbt_project)
    monkeypatch.setenv("FEEDPULSE_SOURCE_DATABASE", "another_source")
    assert not manifest_is_fresh(dbt_project)  # sources would point elsewhere
    monkeypatch.delenv("FEEDPULSE_SOURCE_DATABASE")
    model = dbt_project.project_dir / "models" / "marts" / "user_daily.sql"
    original = model.stat().st_mtime
    try:
        os.utime(model, (time.time() + 5, time.time() + 5))
        assert not manifest_is_fresh(dbt_project)  # an edited model
    finally:
        os.utime(model, (original, original))


def test_a_dbt_run_by_hand_does_not_touch_dagsters_manifest(tmp_path):
    """The README's "By hand" recipe with another source_database used to rewrite target/manifest.json,
    and Dagster then showed a phantom `other_db/feed_actions` asset (issue 12)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from orchestration.dbt import DBT_EXECUTABLE, dbt_project
    from orchestration.manifest import ensure_manifest, manifest_is_fresh

    ensure_manifest(dbt_project, DBT_EXECUTABLE)  # in step with this process (see the test above)
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
    assert manifest_is_fresh(dbt_project)  # no re-parse either
    schemas = {s["schema"] for s in json.loads(before)["sources"].values()}
    assert "other_db" not in schemas
