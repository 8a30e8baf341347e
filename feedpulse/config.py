"""Settings read from the environment (the interfaces every part of feedpulse relies on).

- ``FEEDPULSE_HOME``: data home (default ``./.feedpulse``): local ClickHouse data, logs, outbox.
- ``CLICKHOUSE_HOST``/``PORT``/``USER``/``PASSWORD``/``SECURE``: the ClickHouse server. An unset
  host means the embedded default: the local chDB endpoint, started on demand.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 8123
DEFAULT_TIMEZONE = "Europe/Moscow"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def data_timezone() -> str:
    """The timezone the data's DateTime values are in (the local endpoint runs in it)."""
    return os.environ.get("FEEDPULSE_TIMEZONE") or DEFAULT_TIMEZONE


def local_now() -> dt.datetime:
    """Now as a naive wall-clock time in :func:`data_timezone` (comparable with bucket times)."""
    return dt.datetime.now(ZoneInfo(data_timezone())).replace(tzinfo=None)


def feedpulse_home() -> Path:
    """The data home, created on first use."""
    home = Path(os.environ.get("FEEDPULSE_HOME") or ".feedpulse").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def alerts_config_path() -> Path | None:
    """``FEEDPULSE_ALERTS_CONFIG``: the alerts.yaml to use; ``None`` ⇒ the shipped one."""
    value = (os.environ.get("FEEDPULSE_ALERTS_CONFIG") or "").strip()
    return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class ClickHouseSettings:
    """Where ClickHouse is and how to log in. ``is_local`` ⇒ the embedded chDB endpoint."""

    host: str = LOCAL_HOST
    port: int = LOCAL_PORT
    user: str = "default"
    password: str = field(default="", repr=False)
    secure: bool = False
    is_local: bool = True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ClickHouseSettings:
        env = dict(os.environ if env is None else env)
        host = (env.get("CLICKHOUSE_HOST") or "").strip()
        secure = _truthy(env.get("CLICKHOUSE_SECURE"))
        port_text = (env.get("CLICKHOUSE_PORT") or "").strip()
        try:
            port = int(port_text) if port_text else (8443 if secure and host else LOCAL_PORT)
        except ValueError:
            raise ValueError(f"CLICKHOUSE_PORT must be a port number, got {port_text!r}") from None
        if not 0 < port < 65536:
            raise ValueError(f"CLICKHOUSE_PORT must be between 1 and 65535, got {port}")
        return cls(
            host=host or LOCAL_HOST,
            port=port,
            user=env.get("CLICKHOUSE_USER") or "default",
            password=env.get("CLICKHOUSE_PASSWORD") or "",
            secure=secure,
            is_local=not host,
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.host}:{self.port}"
