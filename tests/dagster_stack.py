"""The production Dagster processes for tests: a code server (`dagster api grpc`), the daemon
(`dagster-daemon run`) and the webserver, on an instance made from deploy/dagster/dagster.yaml
with PostgreSQL storage in a database of its own.

The instance file is copied unchanged; only the environment says where PostgreSQL and ClickHouse
are (as in production). A variant of the file can be given to show what a setting changes.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_DAGSTER_YAML = ROOT / "deploy" / "dagster" / "dagster.yaml"
DEPLOY_WORKSPACE_YAML = ROOT / "deploy" / "dagster" / "workspace.yaml"
BIN = Path(sys.executable).parent
LOCATION = "feedpulse"
REPOSITORY = "__repository__"

T = TypeVar("T")


@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL server the tests may create databases in (from a libpq URL)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    maintenance_db: str

    @classmethod
    def from_dsn(cls, dsn: str) -> PostgresServer:
        parts = urlsplit(dsn)
        if parts.scheme not in {"postgresql", "postgres"}:
            raise ValueError(f"FEEDPULSE_TEST_POSTGRES_DSN must be a postgresql:// URL, got scheme {parts.scheme!r}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password or "",
            maintenance_db=(parts.path or "/").lstrip("/") or "postgres",
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self, database: str | None = None, timeout: int = 3):
        import psycopg2

        connection = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.maintenance_db,
            connect_timeout=timeout,
        )
        connection.autocommit = True
        return connection

    @contextmanager
    def scratch_database(self, prefix: str = "feedpulse_dagster") -> Iterator[str]:
        """A new database (``<prefix>_<uuid>``), dropped afterwards — never one that existed."""
        from psycopg2 import sql

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        connection = self.connect()  # autocommit: CREATE/DROP DATABASE cannot run in a transaction
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        connection.close()
        try:
            yield name
        finally:
            connection = self.connect()
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            connection.close()

    def dagster_env(self, database: str) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/dagster/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def prepare_manifest(env: dict[str, str], timeout: float = 600) -> None:
    """`make manifest`'s build step with the environment the Dagster processes get: it parses the
    project into FEEDPULSE_DBT_MANIFEST_DIR for their FEEDPULSE_SOURCE_DATABASE (the processes only
    read the manifest, and refuse one prepared for another source database)."""
    from orchestration.manifest import BUILD_STEP

    command, *args = shlex.split(BUILD_STEP)
    path = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # dagster-dbt runs the `dbt` on PATH: this venv's
    done = subprocess.run(
        [str(BIN / command), *args],
        cwd=ROOT,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{BUILD_STEP} failed:\n{(done.stdout + done.stderr)[-4000:]}")


def render_workspace(port: int) -> dict[str, Any]:
    """deploy/dagster/workspace.yaml with the code server on this machine."""
    workspace = yaml.safe_load(DEPLOY_WORKSPACE_YAML.read_text())
    [entry] = workspace["load_from"]
    entry["grpc_server"].update(host="127.0.0.1", port=port)
    return workspace


class DagsterStack:
    """Code server, daemon and webserver on one DAGSTER_HOME; logs in ``home/logs``."""

    def __init__(self, home: Path, env: dict[str, str], grpc_port: int, web_port: int, instance_yaml: str) -> None:
        self.home = home
        self.grpc_port = grpc_port
        self.web_port = web_port
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(instance_yaml)
        self.workspace = home / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump(render_workspace(grpc_port)))
        self.env = {**env, "DAGSTER_HOME": str(home)}
        self.processes: dict[str, subprocess.Popen] = {}

    # --- processes --------------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def _alive(self, name: str) -> bool:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            raise RuntimeError(f"{name} exited; its log ends:\n{self.log_tail(name)}")
        return True

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def start_code_server(self, clock: dt.datetime | None = None, timeout: float = 900) -> None:
        """`dagster api grpc` for the code location; ``clock`` pins feedpulse's "now" (tests/pinned_clock.py)."""
        dagster = [str(BIN / "dagster")] if clock is None else [sys.executable, "-m", "tests.pinned_clock"]
        dagster += [clock.isoformat(), "dagster"] if clock is not None else []
        self._spawn(
            "grpc",
            [
                *dagster,
                *("api", "grpc", "-m", "orchestration.definitions"),
                *("-h", "127.0.0.1", "-p", str(self.grpc_port), "--location-name", LOCATION),
            ],
        )

        def healthy() -> bool:
            self._alive("grpc")
            check = [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(self.grpc_port), "-h", "127.0.0.1"]
            return subprocess.run(check, env=self.env, capture_output=True, check=False).returncode == 0

        wait_for("the code server to answer", healthy, timeout, interval=1)

    @contextmanager
    def instance(self) -> Iterator[Any]:
        """The same instance in this process (dagster.yaml reads its storage from the environment)."""
        from dagster import DagsterInstance

        saved = {key: os.environ.get(key) for key in self.env if key.startswith("DAGSTER_PG_")}
        os.environ.update({key: self.env[key] for key in saved})
        try:
            instance = DagsterInstance.from_config(str(self.home))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        with instance:
            yield instance

    @contextmanager
    def other_daemon(self, instance_yaml: str) -> Iterator[None]:
        """Run the daemon with another instance file (same storage) for the block, then this one again.

        Everything the block starts through the webserver is launched by that daemon, and its run
        workers get its instance (a run's worker uses the launching daemon's instance file)."""
        self._stop("daemon")
        variant = self.home / "variant"
        variant.mkdir(exist_ok=True)
        (variant / "dagster.yaml").write_text(instance_yaml)
        try:
            self.start_daemon(home=variant)
            yield
        finally:
            self._stop("daemon")
            self.start_daemon()

    def start_daemon(self, timeout: float = 600, home: Path | None = None) -> None:
        env = {**self.env, "DAGSTER_HOME": str(home or self.home)}
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)], env=env)

        def heartbeating() -> bool:
            self._alive("daemon")
            with self.instance() as instance:
                beats = instance.get_daemon_heartbeats()
                return set(instance.get_required_daemon_types()) <= set(beats)

        wait_for("every daemon's first heartbeat", heartbeating, timeout, interval=1)

    def start_webserver(self, timeout: float = 600) -> None:
        self._spawn(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", str(self.workspace), "-h", "127.0.0.1", "-p", str(self.web_port)],
        )

        def answering() -> bool:
            self._alive("webserver")
            with suppress(requests.RequestException):
                return requests.get(f"{self.web_url}/server_info", timeout=2).ok
            return False

        wait_for("the webserver to answer", answering, timeout, interval=1)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _stop(self, name: str, timeout: float = 30) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        below = {pid: _start_time(pid) for pid in descendants(process.pid)}  # run workers, dbt
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        for pid, started in below.items():
            if started is not None and _start_time(pid) == started:  # the same process, not a reused id
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        for name in ("webserver", "daemon", "grpc"):
            self._stop(name)

    # --- GraphQL (what the UI sends) --------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{self.web_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        payload = response.json()
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]


def _start_time(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found, then theirs), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and everything below it at once (a crashed container/host), no cleanup."""
    victims = [pid, *descendants(pid)]
    for victim in victims:
        with suppress(ProcessLookupError):
            os.kill(victim, signal.SIGSTOP)  # freeze first so no child outlives its parent by a step
    for victim in victims:
        with suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    return victims
