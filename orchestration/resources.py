"""Dagster resources: ClickHouse (real server or the local endpoint, started on demand) and dbt."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from dagster import ConfigurableResource

from feedpulse.clickhouse import ensure_server, get_client
from feedpulse.config import ClickHouseSettings


class ClickHouseResource(ConfigurableResource):
    """clickhouse-connect over HTTP. Connection details come from the CLICKHOUSE_* environment;
    with CLICKHOUSE_HOST unset, the local chDB endpoint is started when first needed."""

    database: str = ""

    def settings(self) -> ClickHouseSettings:
        return ClickHouseSettings.from_env()

    def ensure_server(self) -> ClickHouseSettings:
        return ensure_server(self.settings())

    def get_client(self) -> Client:
        return get_client(database=self.database or None, settings=self.settings())
