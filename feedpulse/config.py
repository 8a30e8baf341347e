"""Settings: the one place feedpulse reads its environment.

Every other module asks :func:`settings` (or the typed helpers below) instead of reading
``os.environ``; a test can pass its own mapping. Values are validated when read, so a bad value
fails with the variable's name instead of deep inside a run.

- ``FEEDPULSE_HOME``: data home (default ``./.feedpulse``): local ClickHouse data, logs, outbox.
- ``FEEDPULSE_SOURCE_DATABASE``: database of the raw event tables (default ``simulator``).
- ``FEEDPULSE_START_DATE``: first daily partition; unset ⇒ the first day in the source tables.
- ``FEEDPULSE_TIMEZONE``: the timezone of the data's DateTime values and of the schedules.
- ``FEEDPULSE_ETL_TIME`` / ``FEEDPULSE_REPORT_TIME``: daily ETL and report times (HH:MM).
- ``FEEDPULSE_ALERT_INTERVAL_SECONDS``: the anomaly sensor's interval.
- ``FEEDPULSE_ALERTS_CONFIG`` / ``FEEDPULSE_EXPERIMENTS``: the alerts.yaml / experiments YAML to use.
- ``FEEDPULSE_DASHBOARD_URL``: where reports and alerts link to.
- ``FEEDPULSE_LANGUAGE``: the language of every report, alert and experiment text (``ru`` default, ``en``).
- ``FEEDPULSE_DBT_TARGET``, ``CLICKHOUSE_CLUSTER``: the dbt target.
- ``FEEDPULSE_DBT_MANIFEST_DIR``: where ``make manifest`` prepares, and Dagster reads, the dbt manifest
  (default ``dbt_project/target/dagster``; orchestration/manifest.py).
- ``CLICKHOUSE_HOST``/``PORT``/``USER``/``PASSWORD``/``SECURE``: the ClickHouse server. An unset
  host means the embedded default: the local chDB endpoint, started on demand.
- ``TELEGRAM_BOT_TOKEN``/``TELEGRAM_CHAT_ID``/``TELEGRAM_API_URL``: see feedpulse.telegram.client.
- ``BROWSER_PATH``: the Chromium kaleido renders charts with (default: found on PATH).
- ``FEEDPULSE_SUPERSET_ADMIN``/``PASSWORD``/``PORT``/``VENV``: the local Superset (feedpulse.superset.home).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from feedpulse.i18n import DEFAULT_LANG, Lang, check_lang
from feedpulse.identifiers import check_identifier

LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 8123
DEFAULT_TIMEZONE = "Europe/Moscow"
DEFAULT_SOURCE_DATABASE = "simulator"


class SettingsError(ValueError):
    """A setting has a value feedpulse cannot use; the message names the variable."""


def environment() -> Mapping[str, str]:
    """The process environment: the only read of ``os.environ`` in feedpulse."""
    return os.environ


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class Settings(BaseModel):
    """feedpulse's settings, by environment variable name. Empty values count as unset."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path(".feedpulse"), alias="FEEDPULSE_HOME")
    source_database: str = Field(default=DEFAULT_SOURCE_DATABASE, alias="FEEDPULSE_SOURCE_DATABASE")
    start_date: dt.date | None = Field(default=None, alias="FEEDPULSE_START_DATE")
    timezone: str = Field(default=DEFAULT_TIMEZONE, alias="FEEDPULSE_TIMEZONE")
    etl_time: dt.time = Field(default=dt.time(0, 30), alias="FEEDPULSE_ETL_TIME")
    report_time: dt.time = Field(default=dt.time(11, 0), alias="FEEDPULSE_REPORT_TIME")
    alert_interval_seconds: int = Field(default=900, ge=10, le=86_400, alias="FEEDPULSE_ALERT_INTERVAL_SECONDS")
    alerts_config: Path | None = Field(default=None, alias="FEEDPULSE_ALERTS_CONFIG")
    experiments: Path | None = Field(default=None, alias="FEEDPULSE_EXPERIMENTS")
    dashboard_url: str | None = Field(default=None, alias="FEEDPULSE_DASHBOARD_URL")
    superset_url: str | None = Field(default=None, alias="FEEDPULSE_SUPERSET_URL")
    language: Lang = Field(default=DEFAULT_LANG, alias="FEEDPULSE_LANGUAGE")
    dbt_target: str | None = Field(default=None, alias="FEEDPULSE_DBT_TARGET")
    clickhouse_cluster: str | None = Field(default=None, alias="CLICKHOUSE_CLUSTER")
    dbt_manifest_dir: Path | None = Field(default=None, alias="FEEDPULSE_DBT_MANIFEST_DIR")
    browser_path: str | None = Field(default=None, alias="BROWSER_PATH")
    report_why_threshold: float = Field(default=0.1, alias="FEEDPULSE_REPORT_WHY_THRESHOLD")

    @field_validator("superset_url")
    @classmethod
    def _superset_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL such as http://127.0.0.1:8088, got {value!r}")
        return value.rstrip("/")

    @field_validator("source_database")
    @classmethod
    def _source_is_an_identifier(cls, value: str) -> str:
        return check_identifier(value, "the source database")

    @field_validator("report_why_threshold", mode="before")
    @classmethod
    def _share(cls, value: object) -> object:
        """``0.1``, ``10%`` or ``off`` (no "why" lines: ∞)."""
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text == "off":
            return float("inf")
        try:
            threshold = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        except ValueError:
            raise ValueError(f"must be a share like 0.1, 10% or off, got {value!r}") from None
        if not threshold > 0:
            raise ValueError(f"must be above 0, got {value!r}")
        return threshold

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("etl_time", "report_time", mode="before")
    @classmethod
    def _hh_mm(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            hour, minute = (int(part) for part in value.split(":"))
            return dt.time(hour, minute)
        except ValueError:
            raise ValueError(f"must be a time HH:MM, got {value!r}") from None

    @field_validator("home", "alerts_config", "experiments", "dbt_manifest_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = environment() if env is None else env
        names = [info.alias for info in cls.model_fields.values() if info.alias]
        values = {name: env[name].strip() for name in names if (env.get(name) or "").strip()}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    """``FEEDPULSE_ETL_TIME: must be a time HH:MM, got 'x'`` — each bad variable by name."""
    lines = []
    for error in exc.errors():
        name = error["loc"][0] if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "; ".join(lines)


def settings(env: Mapping[str, str] | None = None) -> Settings:
    """The current settings (read on every call: cheap, and tests may change the environment)."""
    return Settings.from_env(env)


def data_timezone() -> str:
    """The timezone the data's DateTime values are in (the local endpoint runs in it)."""
    return settings().timezone


def local_now() -> dt.datetime:
    """Now as a naive wall-clock time in :func:`data_timezone` (comparable with bucket times)."""
    return dt.datetime.now(ZoneInfo(data_timezone())).replace(tzinfo=None)


def feedpulse_home() -> Path:
    """The data home, created on first use."""
    home = settings().home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def report_why_threshold() -> float:
    """``FEEDPULSE_REPORT_WHY_THRESHOLD``: a report figure that moved more than this day over day gets a
    "why" line naming the segment behind the move (∞ when ``off``)."""
    return settings().report_why_threshold


def language(chosen: str | None = None) -> Lang:
    """The language of a text: ``chosen`` (a CLI option, a run config, a config file; checked) when
    given, else ``FEEDPULSE_LANGUAGE``, the default of every text feedpulse sends or prints."""
    return check_lang(chosen) if chosen else settings().language


def alerts_config_path() -> Path | None:
    """``FEEDPULSE_ALERTS_CONFIG``: the alerts.yaml to use; ``None`` ⇒ the shipped one."""
    return settings().alerts_config


def source_database() -> str:
    """``FEEDPULSE_SOURCE_DATABASE``: the database of the raw event tables."""
    return settings().source_database


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
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClickHouseSettings:
        env = environment() if env is None else env
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
