"""Scratch databases: created by the tool that needs one, dropped by it, never an existing database.

``feedpulse alerts evaluate --database test`` used to simulate into ``test`` and then drop it, the
final table with it. Now::

    with scratch_database(client) as database:   # feedpulse_scratch_<uuid>, created here
        simulate(client, ..., database=database)
    # dropped here (unless keep=True)

A name given by the user must carry the reserved prefix (:func:`feedpulse.identifiers.check_scratch_name`)
and must not exist: the database is created with ``CREATE DATABASE`` without ``IF NOT EXISTS``, so
ClickHouse itself refuses an existing one (also one created between the check and the creation),
and only a database created by this call is ever dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from feedpulse.identifiers import check_scratch_name, quoted, scratch_name


class ScratchDatabaseError(ValueError):
    """The requested scratch database cannot be used (bad name, or it exists already)."""


def database_exists(client: Any, name: str) -> bool:
    rows = client.query("SELECT count() FROM system.databases WHERE name = {name:String}", parameters={"name": name})
    return bool(rows.result_rows[0][0])


@contextmanager
def scratch_database(client: Any, name: str | None = None, *, keep: bool = False) -> Iterator[str]:
    """Create a scratch database (``name`` or a new ``feedpulse_scratch_<uuid>``), yield its name, drop it.

    Raises :class:`ScratchDatabaseError` before touching anything when ``name`` lacks the reserved
    prefix or exists. ``keep=True`` leaves the database for inspection.
    """
    try:
        database = scratch_name() if name is None else check_scratch_name(name, "--database")
    except ValueError as exc:
        raise ScratchDatabaseError(str(exc)) from None
    if database_exists(client, database):
        raise ScratchDatabaseError(
            f"database {database!r} exists already: a scratch database is created by the tool and never reused "
            "(leave --database out for a new one, or drop the old one yourself)"
        )
    try:
        client.command(f"CREATE DATABASE {quoted(database)}")  # no IF NOT EXISTS: refuse a concurrent one
    except Exception as exc:  # the driver's DatabaseError; this database is not ours, so never drop it
        raise ScratchDatabaseError(f"cannot create scratch database {database!r}: {exc}") from None
    try:
        yield database
    finally:
        if not keep:
            client.command(f"DROP DATABASE IF EXISTS {quoted(database)}")
