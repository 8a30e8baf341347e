"""Keep the dbt manifest in step with the project and the environment, parsing only when needed.

Every Dagster process (the code server, each run) imports the definitions; running `dbt parse`
(seconds) in each of them would tax every sensor-requested alert run. The manifest is re-parsed
when a project file is newer than it or when the environment that shapes it changed (the source
database, the dbt target); a file lock keeps concurrent processes from parsing over each other.
"""

import fcntl
import json
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from feedpulse.config import environment

PROJECT_FILE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv"}
ENV_THAT_SHAPES_THE_MANIFEST = ("FEEDPULSE_SOURCE_DATABASE", "FEEDPULSE_DBT_TARGET", "CLICKHOUSE_CLUSTER")


def parse_environment() -> dict[str, str]:
    env = environment()
    return {name: env.get(name, "") for name in ENV_THAT_SHAPES_THE_MANIFEST}


def newest_project_file(project_dir: Path, target_dir: Path) -> float:
    """The newest source file of the project: not dbt's output (any target folder, logs)."""
    outputs = {target_dir, project_dir / "target", project_dir / "logs"}
    newest = 0.0
    for path in project_dir.rglob("*"):
        if path.suffix in PROJECT_FILE_SUFFIXES and not outputs.intersection(path.parents):
            newest = max(newest, path.stat().st_mtime)
    return newest


def target_dir(project: DbtProject) -> Path:
    """The project's target folder (dagster-dbt keeps it relative to the project)."""
    return Path(project.project_dir) / project.target_path


def manifest_is_fresh(project: DbtProject) -> bool:
    manifest = project.manifest_path
    stamp = manifest.with_name("feedpulse_parse_env.json")
    if not manifest.exists() or not stamp.exists():
        return False
    try:
        if json.loads(stamp.read_text()) != parse_environment():
            return False
    except (OSError, ValueError):
        return False
    return manifest.stat().st_mtime >= newest_project_file(Path(project.project_dir), target_dir(project))


def ensure_manifest(project: DbtProject, dbt_executable: str) -> None:
    """`dbt parse` unless the manifest already matches the project files and the environment."""
    target = target_dir(project)
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_is_fresh(project):
            return
        DbtCliResource(project_dir=project, dbt_executable=dbt_executable).cli(
            ["parse", "--quiet"], target_path=target
        ).wait()
        project.manifest_path.with_name("feedpulse_parse_env.json").write_text(json.dumps(parse_environment()))
