"""One way to reach ClickHouse: clickhouse-connect over HTTP, real server or local endpoint.

With ``CLICKHOUSE_HOST`` unset, the local chDB endpoint is started on demand (background,
``$FEEDPULSE_HOME``), so callers never care which one they talk to.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from feedpulse.config import ClickHouseSettings


def ensure_server(settings: ClickHouseSettings | None = None) -> ClickHouseSettings:
    """Start the local endpoint if the settings point at it; return the settings used."""
    settings = settings or ClickHouseSettings.from_env()
    if settings.is_local:
        from feedpulse.localhouse import manager

        manager.start(host=settings.host, port=settings.port)
    return settings


def get_client(database: str | None = None, settings: ClickHouseSettings | None = None, **kwargs: Any) -> Client:
    """A clickhouse-connect client for the configured server (starting the local one if needed)."""
    settings = ensure_server(settings)
    return clickhouse_connect.get_client(
        host=settings.host,
        port=settings.port,
        username=settings.user,
        password=settings.password,
        secure=settings.secure,
        database=database or "",
        **kwargs,
    )


def server_now(client: Client) -> dt.datetime:
    """The server's current local time (naive), so windows match ``DateTime`` columns."""
    value = client.query("SELECT toString(now())").result_rows[0][0]
    return dt.datetime.fromisoformat(str(value))


def table_exists(client: Client, database: str, table: str) -> bool:
    """True when ``database.table`` exists (a query parameter each, no identifier in the SQL)."""
    return bool(
        int(
            client.command(
                "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
                parameters={"db": database, "t": table},
            )
        )
    )
