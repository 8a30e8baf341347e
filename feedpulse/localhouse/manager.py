"""Run the local endpoint in the background: pid file, health check on ``/ping``, logs.

Everything lives under ``$FEEDPULSE_HOME/localhouse/``. Starting is guarded by a file lock so
that several processes (dbt threads, Dagster runs, tests) asking for the endpoint at once start
exactly one server. The password is handed to the server through its environment, never argv.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from feedpulse.config import feedpulse_home

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Status:
    running: bool
    healthy: bool
    pid: int | None
    host: str | None
    port: int | None
    path: str | None
    log: str

    def describe(self) -> str:
        if self.running and self.healthy:
            return f"running (pid {self.pid}) on http://{self.host}:{self.port}, data in {self.path}"
        if self.running:
            return f"process {self.pid} is alive but http://{self.host}:{self.port}/ping does not answer"
        return "not running"


def state_dir() -> Path:
    path = feedpulse_home() / "localhouse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_data_path() -> Path:
    return feedpulse_home() / "clickhouse"


def _state_file() -> Path:
    return state_dir() / "localhouse.json"


def log_file() -> Path:
    return state_dir() / "localhouse.log"


def ping(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        response = requests.get(f"http://{host}:{port}/ping", timeout=timeout)
    except requests.RequestException:
        return False
    return response.status_code == 200 and response.text.strip() == "Ok."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # zombie: exited, not yet reaped
            return False
    return True


def status() -> Status:
    state_path = _state_file()
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    pid = state.get("pid")
    running = bool(pid) and _alive(int(pid))
    healthy = running and ping(state["host"], int(state["port"]))
    return Status(
        running=running,
        healthy=healthy,
        pid=pid if running else None,
        host=state.get("host"),
        port=state.get("port"),
        path=state.get("path"),
        log=str(log_file()),
    )


@contextlib.contextmanager
def _start_lock() -> Iterator[None]:
    with open(state_dir() / "start.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start(host: str = "127.0.0.1", port: int = 8123, path: Path | None = None) -> Status:
    """Start the endpoint in the background unless it already runs; wait until /ping answers."""
    data_path = Path(path or default_data_path()).resolve()
    with _start_lock():
        current = status()
        if current.running and current.healthy:
            if (current.host, current.port) != (host, port):
                raise RuntimeError(
                    f"the local endpoint already runs on {current.host}:{current.port}; stop it first "
                    f"to move it to {host}:{port}"
                )
            return current
        if current.running:
            stop()
        if ping(host, port):
            raise RuntimeError(
                f"something else already answers on http://{host}:{port}/ping (another FEEDPULSE_HOME or a "
                "ClickHouse server); set CLICKHOUSE_PORT to a free port or CLICKHOUSE_HOST to use that server"
            )
        command = [
            sys.executable,
            "-m",
            "feedpulse.cli",
            "localhouse",
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            "--path",
            str(data_path),
        ]
        with open(log_file(), "ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        state = {"pid": process.pid, "host": host, "port": port, "path": str(data_path)}
        _state_file().write_text(json.dumps(state))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                _state_file().unlink(missing_ok=True)
                raise RuntimeError(f"the local endpoint exited at start (code {process.returncode}):\n{_tail()}")
            if ping(host, port, timeout=0.5):
                return status()
            time.sleep(0.1)
        process.terminate()
        raise RuntimeError(f"the local endpoint did not answer /ping within {START_TIMEOUT:.0f} s:\n{_tail()}")


def stop() -> bool:
    """Stop the background endpoint; True if one was running."""
    current = status()
    if not current.running or current.pid is None:
        _state_file().unlink(missing_ok=True)
        return False
    os.kill(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _alive(current.pid):
        time.sleep(0.1)
    if _alive(current.pid):
        os.kill(current.pid, signal.SIGKILL)
    _state_file().unlink(missing_ok=True)
    return True


def _tail(lines: int = 20) -> str:
    path = log_file()
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def status_json() -> str:
    return json.dumps(asdict(status()), indent=2)
