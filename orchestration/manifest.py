"""The dbt manifest Dagster builds the asset graph from: prepared by a build step, only read at load.

As dagster-dbt recommends, `dagster dev` parses the project whenever it loads the code
(``DbtProject.prepare_if_dev()``), and everything else gets a manifest prepared once, before
Dagster imports the definitions: `make manifest` (which `make demo` and `make test` run) or the
image build (deploy/Dockerfile), both running `dagster-dbt project prepare-and-package --file
orchestration/project.py`. Loading the definitions starts no dbt and takes no lock; it refuses a
manifest that is missing, older than a file of the project, or whose dbt sources are not in the
environment's source database — the source assets are keyed [database, table], so such a manifest
would draw a phantom set of source assets and leave the real ones without their models.

The dbt target (FEEDPULSE_DBT_TARGET, CLICKHOUSE_CLUSTER) changes only the models' engines in the
manifest, not the asset graph, and every dbt run parses the project again with its own environment.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject

PREPARE_COMMAND = "make manifest"
BUILD_STEP = "dagster-dbt project prepare-and-package --file orchestration/project.py"
PROJECT_FILE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv"}


class ManifestError(RuntimeError):
    """Dagster's dbt manifest cannot be used as it is; the message names the command that prepares it."""


def newest_project_file(project_dir: Path, target_dir: Path) -> Path | None:
    """The most recently changed source file of the project: not dbt's output (any target folder, logs)."""
    outputs = {target_dir, project_dir / "target", project_dir / "logs"}
    newest: Path | None = None
    newest_mtime = 0.0
    for path in project_dir.rglob("*"):
        if path.suffix in PROJECT_FILE_SUFFIXES and not outputs.intersection(path.parents):
            mtime = path.stat().st_mtime
            if mtime > newest_mtime:
                newest, newest_mtime = path, mtime
    return newest


def source_databases(manifest: Mapping[str, Any]) -> set[str]:
    """The databases the manifest's dbt sources are in (in dbt-clickhouse the schema is the database)."""
    return {source["schema"] for source in manifest.get("sources", {}).values()}


def why_unusable(
    manifest: Mapping[str, Any], prepared_at: float, project_dir: Path, target_dir: Path, source_database: str
) -> str | None:
    """Why a manifest prepared at ``prepared_at`` (mtime) does not fit the project and the environment."""
    newer = newest_project_file(project_dir, target_dir)
    if newer is not None and newer.stat().st_mtime > prepared_at:
        return f"is older than {newer.relative_to(project_dir)}"
    databases = source_databases(manifest)
    if databases != {source_database}:
        return (
            f"has its dbt sources in {', '.join(sorted(databases)) or 'no database'}, "
            f"while FEEDPULSE_SOURCE_DATABASE is {source_database}"
        )
    return None


def target_dir(project: DbtProject) -> Path:
    """The project's target folder (dagster-dbt keeps it relative to the project unless absolute)."""
    return Path(project.project_dir) / project.target_path


def load_manifest(project: DbtProject, source_database: str) -> dict[str, Any]:
    """The prepared manifest, read once; a :class:`ManifestError` naming the command if it does not fit."""
    path = project.manifest_path
    remedy = (
        f"Prepare it with the environment Dagster runs with: `{PREPARE_COMMAND}` (that is `{BUILD_STEP}`); "
        "`dagster dev` prepares it itself."
    )
    if not path.exists():
        raise ManifestError(f"Dagster's dbt manifest {path} is missing. {remedy}")
    prepared_at = path.stat().st_mtime
    manifest = json.loads(path.read_text())
    reason = why_unusable(manifest, prepared_at, Path(project.project_dir), target_dir(project), source_database)
    if reason is not None:
        raise ManifestError(f"Dagster's dbt manifest {path} {reason}. {remedy}")
    return manifest
