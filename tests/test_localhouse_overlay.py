"""A session's URL settings are restored lazily (feedpulse.localhouse.engine.Overlay): a client that sends the
same settings with every query (dbt, clickhouse-connect) costs the engine its statement alone, not a dozen
calls to apply and undo them. The statements the connection receives, recorded by a fake chDB connection;
what queries see is checked against the real endpoint in test_localhouse_contract."""

from __future__ import annotations

import re
from typing import Any

from feedpulse.localhouse.engine import Connection, Overlay


class _Result:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def bytes(self) -> bytes:
        return self.data

    def storage_rows_read(self) -> int:
        return 0

    storage_bytes_read = rows_written = bytes_written = rows_read = storage_rows_read

    def elapsed(self) -> float:
        return 0.0


class _FakeChdb:
    """Records every statement; answers the two questions the endpoint asks (settings, current database)."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.database = "default"

    def query(self, sql: str, fmt: str, params: dict[str, str]) -> _Result:
        self.statements.append(sql)
        if sql.startswith("SELECT name, changed, value FROM system.settings"):
            names = re.findall(r"'([^']*)'", params["names"])
            return _Result("".join(f"{n}\t0\tdefault-{n}\n" for n in names).encode())
        if sql == "SELECT currentDatabase()":
            return _Result(f"{self.database}\n".encode())
        if sql.startswith("USE "):
            self.database = sql[4:].strip("`")
        return _Result(b"")


class _Raw:
    def __init__(self) -> None:
        self._conn = _FakeChdb()


def _request(raw: Any, overlay: Overlay, settings: dict[str, str], database: str | None = None, **kw: Any) -> list:
    """One request on the session's connection: the statements it sent, the query last."""
    before = len(raw._conn.statements)
    connection = Connection(raw, engine=None, overlay=overlay)  # type: ignore[arg-type]
    with connection.scoped(settings, database, **kw):
        connection.execute("SELECT 1", "TSV")
    return raw._conn.statements[before:]


def test_the_same_url_settings_again_cost_nothing_but_the_query():
    raw, overlay = _Raw(), Overlay()
    client_settings = {"mutations_sync": "3", "date_time_input_format": "best_effort"}
    first = _request(raw, overlay, client_settings, "analytics")
    assert first[-1] == "SELECT 1" and len(first) == 6  # current database, USE, snapshot, two SETs
    assert _request(raw, overlay, client_settings, "analytics") == ["SELECT 1"]
    assert _request(raw, overlay, client_settings, "analytics") == ["SELECT 1"]


def test_what_a_request_does_not_send_gets_the_sessions_value_back():
    raw, overlay = _Raw(), Overlay()
    _request(raw, overlay, {"max_threads": "1", "alter_sync": "3"}, "analytics")
    changed = _request(raw, overlay, {"max_threads": "2"})
    assert changed == ["SET `alter_sync` = DEFAULT", "USE `default`", "SET `max_threads` = '2'", "SELECT 1"]
    assert _request(raw, overlay, {}) == ["SET `max_threads` = DEFAULT", "SELECT 1"]
    assert _request(raw, overlay, {}) == ["SELECT 1"]


def test_a_set_statement_first_gives_the_session_its_own_state_back():
    raw, overlay = _Raw(), Overlay()
    _request(raw, overlay, {"max_threads": "1"}, "analytics")
    persist = _request(raw, overlay, {}, restore=False)  # e.g. SET max_threads = 4 (the query stands in)
    assert persist == ["SET `max_threads` = DEFAULT", "USE `default`", "SELECT 1"]
    assert overlay == Overlay()  # its own values may have changed: the next override takes a new snapshot
    again = _request(raw, overlay, {"max_threads": "1"})
    assert again[0].startswith("SELECT name, changed, value FROM system.settings")
