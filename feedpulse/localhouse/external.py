"""ClickHouse's external data over HTTP: multipart/form-data bodies whose files are tables.

A file part named ``N`` is a temporary table ``N`` for one query, described by the URL/form fields
``N_structure`` ("id UInt32, name String") or ``N_types`` ("UInt32,String": columns _1, _2, …)
and ``N_format`` (TabSeparated by default); the other form fields (``query``, ``param_*``,
settings) count like URL parameters. chDB has no external tables, so each one is created as a
temporary table on the query's connection, filled, and dropped after the query.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile

from feedpulse.localhouse.engine import Connection, engine_error, quote_identifier
from feedpulse.localhouse.errors import ClickHouseError
from feedpulse.localhouse.sqllex import check_single_statement

READ_BYTES = 1 << 20


@dataclass(frozen=True)
class ExternalTable:
    name: str
    columns: str  # a column list, as in CREATE TABLE
    fmt: str
    file: Any  # a binary file object positioned anywhere


def is_multipart(content_type: str | None) -> bool:
    return (content_type or "").lower().startswith("multipart/form-data")


def form_params(url_params: Mapping[str, str], form: FormData) -> dict[str, str]:
    """URL parameters and the form's text fields, the form winning (it carries the query)."""
    merged = dict(url_params)
    for name, value in form.multi_items():
        if isinstance(value, str):
            merged[name] = value
    return merged


def external_tables(form: FormData, params: Mapping[str, str]) -> list[ExternalTable]:
    tables = []
    for name, value in form.multi_items():
        if not isinstance(value, UploadFile):
            continue
        structure, types = params.get(f"{name}_structure"), params.get(f"{name}_types")
        if structure:
            columns = structure
        elif types:
            columns = ", ".join(f"_{i} {t.strip()}" for i, t in enumerate(types.split(","), start=1))
        else:
            raise ClickHouseError(
                36,
                f"Neither structure nor types have not been provided for external table {name}. "
                f"Use fields {name}_structure or {name}_types to do so. (BAD_ARGUMENTS)",
            )
        check_single_statement(f"CREATE TEMPORARY TABLE t ({columns})")
        tables.append(ExternalTable(name, columns, params.get(f"{name}_format") or "TabSeparated", value.file))
    return tables


@contextmanager
def load_external_tables(conn: Connection, tables: list[ExternalTable]) -> Iterator[None]:
    created: list[str] = []
    try:
        for table in tables:
            name = quote_identifier(table.name)
            conn.command(f"CREATE TEMPORARY TABLE {name} ({table.columns}) ENGINE = Memory")
            created.append(name)
            _fill(conn, name, table)
        yield
    finally:
        for name in created:
            with suppress(ClickHouseError):
                conn.command(f"DROP TEMPORARY TABLE IF EXISTS {name}")


def _fill(conn: Connection, name: str, table: ExternalTable) -> None:
    table.file.seek(0)
    inserter = conn.start_insert(f"INSERT INTO {name}", table.fmt)
    try:
        while data := table.file.read(READ_BYTES):
            inserter.append(data)
        inserter.finish()
    except ClickHouseError:
        with suppress(Exception):
            inserter.cancel()
        raise
    except Exception as exc:
        with suppress(Exception):
            inserter.cancel()
        raise engine_error(exc) from None
