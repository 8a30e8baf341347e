"""The dbt project as dagster-dbt sees it, and nothing more: the manifest's build step loads this file.

`make manifest` (and the image build, deploy/Dockerfile) runs `dagster-dbt project prepare-and-package
--file orchestration/project.py`, which finds ``dbt_project`` here and parses the project into its
target folder. The asset graph (orchestration/dbt.py) cannot be that file: it refuses to load
until the manifest exists (orchestration/manifest.py).
"""

import sys
from pathlib import Path

from dagster_dbt import DbtProject

from feedpulse.config import settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
# The dbt installed beside this interpreter (the venv's), whether or not the venv is on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt") if (Path(sys.executable).parent / "dbt").exists() else "dbt"

# Dagster's own target folder: a dbt run by hand (README "By hand", another source_database) writes
# dbt's default target/ and never rewrites the manifest the asset graph is built from.
DAGSTER_TARGET_PATH = Path("target") / "dagster"


def manifest_target_path() -> Path:
    """FEEDPULSE_DBT_MANIFEST_DIR (absolute), else target/dagster of the project."""
    configured = settings().dbt_manifest_dir
    return configured.resolve() if configured is not None else DAGSTER_TARGET_PATH


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=manifest_target_path())
