"""Set up and run the local Superset: metadata database, admin, roles, and the web server.

Every Superset command runs in Superset's own virtualenv (see :mod:`feedpulse.superset.home`).
The server is gunicorn on 127.0.0.1 (one worker, a few threads: a single analyst's dashboards),
in the background with a pid file, like the local ClickHouse endpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from feedpulse.superset import home

START_TIMEOUT = 180.0  # the first start compiles nothing but imports a lot on a busy 2-core machine
STOP_TIMEOUT = 20.0


class SupersetNotInstalled(RuntimeError):
    """The Superset virtualenv is missing: ``make superset`` creates it."""


def _require_installed() -> None:
    if not home.installed():
        raise SupersetNotInstalled(f"Superset is not installed at {home.venv()}: run `make superset`")


def _run(*args: str) -> str:
    """Run one ``superset`` command; fail with its output when it fails."""
    _require_installed()
    result = subprocess.run(
        [str(home.superset_bin()), *args], env=home.superset_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"superset {args[0]} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


def setup() -> home.Admin:
    """Config (SECRET_KEY once), metadata schema, admin user, roles. Safe to run again."""
    _require_installed()
    home.write_config()
    _run("db", "upgrade")
    admin = home.admin()
    _ensure_admin(admin)
    _run("init")
    return admin


def _ensure_admin(admin: home.Admin) -> None:
    """Create the admin, or reset its password to the current one (a changed env var takes effect)."""
    listed = _run("fab", "list-users")
    if f"username:{admin.username} " in listed or f"username:{admin.username}\n" in listed:
        _run("fab", "reset-password", "--username", admin.username, "--password", admin.password)
        return
    _run(
        "fab",
        "create-admin",
        "--username",
        admin.username,
        "--firstname",
        "feedpulse",
        "--lastname",
        "admin",
        "--email",
        f"{admin.username}@localhost",
        "--password",
        admin.password,
    )


@dataclass(frozen=True)
class Status:
    running: bool
    healthy: bool
    pid: int | None
    url: str
    log: str

    def describe(self) -> str:
        if self.healthy:
            return f"running (pid {self.pid}) on {self.url}"
        if self.running:
            return f"process {self.pid} is alive but {self.url}/health does not answer (log: {self.log})"
        return "not running"


def _state_file() -> Path:
    return home.superset_home() / "server.json"


def log_file() -> Path:
    return home.superset_home() / "superset.log"


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def status() -> Status:
    state = json.loads(_state_file().read_text()) if _state_file().exists() else {}
    pid = state.get("pid")
    running = bool(pid) and _alive(int(pid))
    url = state.get("url") or home.base_url()
    return Status(running, running and healthy(url), pid if running else None, url, str(log_file()))


def start() -> Status:
    """Start gunicorn in the background unless it runs; wait until /health answers."""
    _require_installed()
    current = status()
    if current.healthy:
        return current
    if current.running:
        stop()
    url = home.base_url()
    if healthy(url):
        raise RuntimeError(f"something else answers on {url}; set FEEDPULSE_SUPERSET_PORT to a free port")
    command = [
        str(home.venv() / "bin" / "gunicorn"),
        "--bind",
        f"127.0.0.1:{home.port()}",
        "--workers",
        "1",
        "--threads",
        "8",
        "--worker-class",
        "gthread",
        "--timeout",
        "300",
        "superset.app:create_app()",
    ]
    with open(log_file(), "ab") as log:
        process = subprocess.Popen(
            command,
            env=home.superset_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _state_file().write_text(json.dumps({"pid": process.pid, "url": url}))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _state_file().unlink(missing_ok=True)
            raise RuntimeError(f"Superset exited at start (code {process.returncode}):\n{_tail()}")
        if healthy(url, timeout=1.0):
            return status()
        time.sleep(0.5)
    stop()
    raise RuntimeError(f"Superset did not answer {url}/health within {START_TIMEOUT:.0f} s:\n{_tail()}")


def stop() -> bool:
    """Stop the background server (its whole process group: gunicorn's master and worker)."""
    current = status()
    if not current.running or current.pid is None:
        _state_file().unlink(missing_ok=True)
        return False
    os.killpg(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _alive(current.pid):
        time.sleep(0.2)
    if _alive(current.pid):
        os.killpg(current.pid, signal.SIGKILL)
    _state_file().unlink(missing_ok=True)
    return True


def _tail(lines: int = 30) -> str:
    path = log_file()
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"
