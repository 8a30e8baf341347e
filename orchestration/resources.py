"""Dagster resources: ClickHouse (real server or the local endpoint, started on demand)."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from dagster import ConfigurableResource

from feedpulse.clickhouse import get_client
from feedpulse.config import ClickHouseSettings


class ClickHouseResource(ConfigurableResource):
    """clickhouse-connect over HTTP. Connection details come from the CLICKHOUSE_* environment;
    with CLICKHOUSE_HOST unset, the local chDB endpoint is started when first needed."""

    database: str = ""

    def settings(self) -> ClickHouseSettings:
        return ClickHouseSettings.from_env()

    def get_client(self) -> Client:
        return get_client(database=self.database or None, settings=self.settings())
