"""The production configuration in deploy/ and the dbt `cluster` target: rendered and validated
without a cluster (Dagster's own instance schema, dbt's own profile rendering, `dbt parse`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedpulse import doctor

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DAGSTER_YAML = DEPLOY / "dagster" / "dagster.yaml"
WORKSPACE_YAML = DEPLOY / "dagster" / "workspace.yaml"
HELM_VALUES = DEPLOY / "k8s" / "values.yaml"
ENV_EXAMPLE = DEPLOY / "env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCS = ROOT / "docs" / "production.md"
DBT_DIR = ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"

# A key that names a secret, assigned a value on the same line (YAML `key: value`, env `KEY=value`).
SECRET_ASSIGNMENT = re.compile(r"""(?ix) ^\s*-?\s*["']?([\w.-]*(?:password|passwd|token|secret_key|api_key)[\w.-]*)["']?
                                \s*[:=]\s*(.*?)\s*$""")
# Values that are not literals: empty, a boolean, a reference to the environment/a Secret, a template.
REFERENCE = re.compile(r"""(?i)^(?:|~|null|true|false|["']{2}|\{\s*env\s*:.*\}|["']?\$.*|["']?\{\{.*\}\}["']?|\#.*)$""")
TELEGRAM_TOKEN = re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}\b")


def deploy_files() -> list[Path]:
    return sorted(path for path in DEPLOY.rglob("*") if path.is_file())


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# --- Dagster instance ----------------------------------------------------------------------------


def test_dagster_yaml_passes_dagsters_instance_schema(tmp_path: Path) -> None:
    from dagster._core.instance.config import dagster_instance_config

    shutil.copy(DAGSTER_YAML, tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["telemetry"]["enabled"] is False


def test_dagster_yaml_classes_exist_and_accept_their_config() -> None:
    from dagster._config import validate_config
    from dagster._serdes.config_class import class_from_code_pointer

    config = load(DAGSTER_YAML)
    for key in ("run_coordinator", "run_launcher"):
        section = config[key]
        cls = class_from_code_pointer(section["module"], section["class"])
        outcome = validate_config(cls.config_type(), section.get("config") or {})
        assert outcome.success, (key, outcome.errors)
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_dagster_storage_is_postgres_from_the_environment() -> None:
    storage = load(DAGSTER_YAML)["storage"]
    assert list(storage) == ["postgres"]
    database = storage["postgres"]["postgres_db"]
    for field, variable in {
        "username": "DAGSTER_PG_USERNAME",
        "password": "DAGSTER_PG_PASSWORD",
        "hostname": "DAGSTER_PG_HOST",
        "db_name": "DAGSTER_PG_DB",
        "port": "DAGSTER_PG_PORT",
    }.items():
        assert database[field] == {"env": variable}, field


def test_dagster_concurrency_allows_one_dbt_run() -> None:
    concurrency = load(DAGSTER_YAML)["concurrency"]
    assert concurrency["pools"]["default_limit"] == 1
    assert {"key": "feedpulse/dbt", "limit": 1} in concurrency["runs"]["tag_concurrency_limits"]
    assert concurrency["runs"]["max_concurrent_runs"] >= 1
    # the dbt assets really run in a pool without its own limit (so default_limit applies)
    assert 'pool="dbt"' in (ROOT / "orchestration" / "dbt.py").read_text()


def test_workspace_loads_the_code_location_over_grpc() -> None:
    [entry] = load(WORKSPACE_YAML)["load_from"]
    assert entry["grpc_server"]["location_name"] == "feedpulse" and entry["grpc_server"]["port"]


# --- Helm values ---------------------------------------------------------------------------------


def test_helm_values_run_feedpulse_with_the_k8s_run_launcher() -> None:
    values = load(HELM_VALUES)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert {"name": "feedpulse-secrets"} in launcher["envSecrets"]
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "orchestration.definitions"]
    assert (ROOT / "orchestration" / "definitions.py").exists()
    assert {"name": "feedpulse-secrets"} in deployment["envSecrets"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    assert deployment["image"]["repository"] and deployment["image"]["tag"]
    names = {item["name"] for item in deployment["env"]}
    assert {"CLICKHOUSE_HOST", "CLICKHOUSE_CLUSTER", "FEEDPULSE_DBT_TARGET"} <= names
    assert not names & {"CLICKHOUSE_PASSWORD", "TELEGRAM_BOT_TOKEN", "DAGSTER_PG_PASSWORD"}, "secrets via envSecrets"
    assert all(isinstance(item["value"], str) for item in deployment["env"])


def test_helm_values_storage_queue_and_telemetry() -> None:
    values = load(HELM_VALUES)
    assert values["postgresql"]["enabled"] is False and "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert values["telemetry"]["enabled"] is False
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True and concurrency["pools"]["defaultLimit"] == 1
    assert {"key": "feedpulse/dbt", "limit": 1} in concurrency["runs"]["tagConcurrencyLimits"]


def test_dockerfile_builds_the_user_code_image() -> None:
    text = DOCKERFILE.read_text()
    assert "chromium" in text and "dagster-k8s" in text and "dagster-postgres" in text
    assert "orchestration.definitions" in text
    assert not re.search(r"(?im)^\s*(ENV|ARG)\b.*(PASSWORD|TOKEN)", text), "secrets are runtime environment only"


def test_the_dbt_manifest_is_prepared_before_dagster_loads_the_definitions() -> None:
    """Loading the definitions only reads the manifest (orchestration/manifest.py): `make demo`,
    `make test` and the image prepare it first, with one build step; the image's by default for
    the source database the Helm values run with."""
    from orchestration.manifest import BUILD_STEP

    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"(?m)^manifest:.*\n\t(.*)$", makefile)
    assert recipe and recipe.group(1).endswith(f"/{BUILD_STEP}")
    for target in ("demo", "test"):
        prerequisites = re.search(rf"(?m)^{target}:(.*)$", makefile)
        assert prerequisites and "manifest" in prerequisites.group(1).split(), target

    dockerfile = DOCKERFILE.read_text()
    assert dockerfile.index(f"RUN {BUILD_STEP}") < dockerfile.index("CMD")
    built_for = re.search(r"(?m)^ARG FEEDPULSE_SOURCE_DATABASE=(\S+)$", dockerfile)
    [deployment] = load(HELM_VALUES)["dagster-user-deployments"]["deployments"]
    runs_with = {item["name"]: item["value"] for item in deployment["env"]}["FEEDPULSE_SOURCE_DATABASE"]
    assert built_for and built_for.group(1) == runs_with


# --- secrets -------------------------------------------------------------------------------------


def secret_literals(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        match = SECRET_ASSIGNMENT.match(line)
        if match and not REFERENCE.match(match.group(2)):
            found.append(line.strip())
        if TELEGRAM_TOKEN.search(line):
            found.append(line.strip())
    return found


def test_secret_scanner_catches_literals() -> None:
    assert secret_literals("      password: hunter2\n")
    assert secret_literals("CLICKHOUSE_PASSWORD=s3cr3t\n")
    assert secret_literals("x: 1234567:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX\n")
    assert not secret_literals("CLICKHOUSE_PASSWORD=\n      password:\n        env: DAGSTER_PG_PASSWORD\n")
    assert not secret_literals("password: \"{{ env_var('CLICKHOUSE_PASSWORD', '') }}\"\n")


@pytest.mark.parametrize("path", deploy_files(), ids=lambda path: str(path.relative_to(DEPLOY)))
def test_no_secret_literals_in_deploy(path: Path) -> None:
    assert secret_literals(path.read_text()) == []


def test_no_secret_literals_in_the_dbt_profiles() -> None:
    assert secret_literals((DBT_DIR / "profiles.yml").read_text()) == []


def test_env_example_covers_every_variable_the_configs_read() -> None:
    documented = set(re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text()))
    wanted = set(re.findall(r"env_var\('([A-Z0-9_]+)'", (DBT_DIR / "profiles.yml").read_text()))
    wanted |= set(re.findall(r"env:\s*([A-Z0-9_]+)", DAGSTER_YAML.read_text()))
    assert wanted and wanted <= documented, wanted - documented
    for secret in ("CLICKHOUSE_PASSWORD", "TELEGRAM_BOT_TOKEN", "DAGSTER_PG_PASSWORD"):
        assert re.search(rf"(?m)^{secret}=$", ENV_EXAMPLE.read_text()), f"{secret} must stay empty"


# --- docs ----------------------------------------------------------------------------------------


def test_docs_mention_every_deploy_file() -> None:
    text = DOCS.read_text()
    missing = [str(path.relative_to(ROOT)) for path in deploy_files() if str(path.relative_to(ROOT)) not in text]
    assert missing == []


def test_docs_state_the_tested_versions() -> None:
    text = DOCS.read_text()
    assert doctor.OLDEST_TESTED in text and doctor.TESTED_ON in text and "feedpulse doctor" in text


# --- dbt `cluster` target ------------------------------------------------------------------------


CLUSTER_ENV = {
    "CLICKHOUSE_HOST": "ch.example.invalid",
    "CLICKHOUSE_CLUSTER": "prod_cluster",
    "CLICKHOUSE_USER": "feedpulse",
    "CLICKHOUSE_PASSWORD": "not-printed",
    "FEEDPULSE_DBT_TARGET": "cluster",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
}

RENDER_PROFILE = """
import json, os, sys
from argparse import Namespace
from dbt.flags import set_from_args
from dbt_common.context import set_invocation_context
set_from_args(Namespace(), None)
set_invocation_context(os.environ)
from dbt.config.profile import Profile, read_profile
from dbt.config.renderer import ProfileRenderer
raw = read_profile(sys.argv[1])
profile = Profile.from_raw_profiles(raw, "feedpulse", ProfileRenderer({}), target_override="cluster")
c = profile.credentials
keys = ("host", "port", "user", "secure", "verify", "cluster", "cluster_mode", "custom_settings", "schema")
print(json.dumps({"target": profile.target_name, **{k: getattr(c, k) for k in keys}}))
"""


def cluster_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "FEEDPULSE_DBT"))}
    return {**env, **CLUSTER_ENV}


def test_cluster_profile_renders_with_cluster_settings() -> None:
    done = subprocess.run(
        [sys.executable, "-c", RENDER_PROFILE, str(DBT_DIR)],
        env=cluster_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    profile = json.loads(done.stdout.strip().splitlines()[-1])
    assert profile["target"] == "cluster" and profile["cluster"] == "prod_cluster" and profile["cluster_mode"] is True
    assert profile["host"] == "ch.example.invalid" and profile["port"] == 8443 and profile["user"] == "feedpulse"
    assert profile["secure"] is True and profile["verify"] is True and profile["schema"] == "analytics"
    assert profile["custom_settings"]["insert_quorum"] == "auto"
    assert profile["custom_settings"]["insert_quorum_parallel"] == 0
    assert profile["custom_settings"]["select_sequential_consistency"] == 1
    assert "not-printed" not in done.stdout


def test_dbt_parse_with_the_cluster_target(tmp_path: Path) -> None:
    if not DBT.exists():
        pytest.skip("dbt is not installed next to the interpreter")
    command = [
        str(DBT),
        "parse",
        "--profiles-dir",
        str(DBT_DIR),
        "--project-dir",
        str(DBT_DIR),
        "--target",
        "cluster",
        "--target-path",
        str(tmp_path / "target"),
        "--log-path",
        str(tmp_path / "logs"),
        "--no-partial-parse",
    ]
    done = subprocess.run(command, env=cluster_env(), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "clickhouse"
    models = [node for node in manifest["nodes"].values() if node["resource_type"] == "model"]
    assert any(node["name"] == "daily_slice_metrics" for node in models)
    tables = [node for node in models if node["config"]["materialized"] != "view"]
    assert tables and all(
        str(node["config"].get("engine", "")).startswith("Replicated") and "{replica}" in str(node["config"]["engine"])
        for node in tables
    ), [n["config"].get("engine") for n in tables]


@pytest.mark.parametrize("path", [DAGSTER_YAML, ROOT / "dagster.yaml"], ids=["deploy", "local"])
def test_run_monitoring_frees_the_slots_of_killed_runs(path: Path) -> None:
    """Without free_slots_after_run_end_seconds a killed run keeps its `dbt` slot forever (issue 12);
    tests/test_dagster_production.py shows it with the real daemon."""
    monitoring = load(path)["run_monitoring"]
    assert monitoring["enabled"] is True
    assert 0 < monitoring["free_slots_after_run_end_seconds"] <= 300
    assert monitoring["poll_interval_seconds"] <= 60
    assert monitoring["start_timeout_seconds"] >= 60 and monitoring["cancel_timeout_seconds"] >= 60


def test_dagster_postgres_is_the_production_extra_of_dagsters_release_line() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [dagster] = [d for d in project["dependencies"] if d.startswith("dagster>=")]
    [postgres] = project["optional-dependencies"]["production"]
    # integration libraries are numbered 0.(minor + 16) alongside dagster 1.minor
    minor = int(re.search(r">=1\.(\d+)", dagster).group(1))
    assert postgres == f"dagster-postgres>=0.{minor + 16},<0.{minor + 17}"
    assert load(DAGSTER_YAML)["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
