"""Import the dashboards YAML into a running Superset through its REST API, idempotently.

Superset's imports (``POST /api/v1/<kind>/import/`` with ``overwrite=true``) create or update
objects by uuid but never delete, and each overwrites only its own kind: the bundle is posted to
the database, dataset, chart and dashboard endpoints in that order. So after importing, the objects this project manages
(``is_managed_externally``, see :mod:`feedpulse.superset.spec`) whose uuid is no longer in the YAML
are deleted: charts first, then dashboards, then datasets of the project's database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from feedpulse.config import ClickHouseSettings
from feedpulse.superset import home, spec

PAGE_SIZE = 100


class SupersetApiError(RuntimeError):
    """A Superset API call failed; the message has the status and Superset's answer."""


@dataclass
class ImportResult:
    dashboards: int
    charts: int
    datasets: int
    deleted: dict[str, list[str]] = field(default_factory=dict)

    def describe(self) -> str:
        gone = ", ".join(f"{len(v)} {k}" for k, v in self.deleted.items() if v) or "nothing"
        return f"imported {self.dashboards} dashboards, {self.charts} charts, {self.datasets} datasets; deleted {gone}"


class Api:
    """A logged-in session: a JWT for the API, the session cookie and CSRF token for writes."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        token = self._call(
            "POST",
            "/api/v1/security/login",
            json={
                "username": username,
                "password": password,
                "provider": "db",
                "refresh": False,
            },
        )["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        csrf = self._call("GET", "/api/v1/security/csrf_token/")["result"]
        self.http.headers.update({"X-CSRFToken": csrf, "Referer": self.url})

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.http.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            raise SupersetApiError(f"{method} {path}: HTTP {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else {}

    def list(self, resource: str, columns: list[str]) -> list[dict[str, Any]]:
        """Every row of a list endpoint (all pages), with the given columns."""
        rows: list[dict[str, Any]] = []
        page = 0
        while True:
            query = f"(columns:!({','.join(columns)}),page:{page},page_size:{PAGE_SIZE})"
            batch = self._call("GET", f"/api/v1/{resource}/", params={"q": query})["result"]
            rows.extend(batch)
            if len(batch) < PAGE_SIZE:
                return rows
            page += 1

    def delete(self, resource: str, object_id: int) -> None:
        self._call("DELETE", f"/api/v1/{resource}/{object_id}")

    def import_bundle(self, resource: str, archive: bytes, passwords: dict[str, str]) -> None:
        self._call(
            "POST",
            f"/api/v1/{resource}/import/",
            files={"formData": ("feedpulse.zip", archive, "application/zip")},
            data={"overwrite": "true", "passwords": json.dumps(passwords)},
        )


def connection_from_env(settings: ClickHouseSettings | None = None) -> spec.Connection:
    """The ClickHouse the dashboards query: CLICKHOUSE_HOST/PORT/USER/PASSWORD/SECURE (default: the
    local endpoint on 127.0.0.1:8123 as ``default``)."""
    ch = settings or ClickHouseSettings.from_env()
    return spec.Connection(host=ch.host, port=ch.port, user=ch.user, password=ch.password, secure=ch.secure)


def stale(api: Api, wanted: spec.Spec) -> dict[str, list[dict[str, Any]]]:
    """The managed objects that the YAML no longer has, by resource."""
    charts = [
        row
        for row in api.list("chart", ["id", "uuid", "slice_name", "is_managed_externally"])
        if row.get("is_managed_externally") and row["uuid"] not in wanted.chart_uuids()
    ]
    dashboards = [
        row
        for row in api.list("dashboard", ["id", "uuid", "dashboard_title", "is_managed_externally"])
        if row.get("is_managed_externally") and row["uuid"] not in wanted.dashboard_uuids()
    ]
    # The dataset list does not show is_managed_externally: the project's datasets are those of its database.
    datasets = [
        row
        for row in api.list("dataset", ["id", "uuid", "table_name", "database.uuid"])
        if (row.get("database") or {}).get("uuid") == wanted.database_uuid()
        and row["uuid"] not in wanted.dataset_uuids()
    ]
    return {"chart": charts, "dashboard": dashboards, "dataset": datasets}


def run(
    directory: Path = home.SPEC_DIR,
    *,
    url: str | None = None,
    admin: home.Admin | None = None,
    connection: spec.Connection | None = None,
) -> ImportResult:
    """Import the YAML of ``directory`` and delete what it no longer defines."""
    wanted = spec.load(directory)
    credentials = admin or home.admin()
    api = Api(url or home.base_url(), credentials.username, credentials.password)
    target = connection or connection_from_env()
    for kind in spec.IMPORT_KINDS:  # database, datasets, charts, dashboards: each overwrites its own kind
        archive, passwords = spec.bundle(wanted, target, kind)
        api.import_bundle(kind, archive, passwords)
    deleted: dict[str, list[str]] = {}
    for resource, rows in stale(api, wanted).items():  # charts before dashboards before datasets
        for row in rows:
            api.delete(resource, row["id"])
        deleted[resource] = [row["uuid"] for row in rows]
    return ImportResult(
        dashboards=len(wanted.dashboards),
        charts=len(wanted.chart_uuids()),
        datasets=len(wanted.datasets),
        deleted=deleted,
    )
