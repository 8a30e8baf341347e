"""The embedded ClickHouse engine (chDB) with ClickHouse-style HTTP sessions.

chDB runs one engine per process, bound to one data path; any number of connections to it may
run queries in parallel, and each connection keeps its own session state (current database,
``SET`` settings, temporary tables). That maps one-to-one onto ClickHouse HTTP sessions:
a ``session_id`` owns one chDB connection; a request without a session gets a fresh connection
(opening one costs well under a millisecond once the engine is up).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chdb

from feedpulse.localhouse.errors import ClickHouseError

DEFAULT_SESSION_TIMEOUT = 60.0
MAX_SESSION_TIMEOUT = 3600.0

_CODE_RE = re.compile(r"Code:\s*(\d+)\.")


def engine_error(exc: BaseException) -> ClickHouseError:
    """Turn a chDB exception (text ``Code: N. DB::Exception: …``) into a ClickHouseError."""
    text = str(exc).strip()
    match = _CODE_RE.search(text)
    code = int(match.group(1)) if match else 1001  # STD_EXCEPTION
    if match:
        text = text[match.start() :]
    else:
        text = f"Code: {code}. DB::Exception: {text}"
    return ClickHouseError(code, text, raw=True)


@dataclass
class QueryStats:
    """What X-ClickHouse-Summary reports."""

    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    elapsed_ns: int = 0

    def as_header(self) -> dict[str, str]:
        return {
            "read_rows": str(self.read_rows),
            "read_bytes": str(self.read_bytes),
            "written_rows": str(self.written_rows),
            "written_bytes": str(self.written_bytes),
            "total_rows_to_read": str(self.read_rows),
            "result_rows": str(self.result_rows),
            "result_bytes": str(self.result_bytes),
            "elapsed_ns": str(self.elapsed_ns),
        }


@dataclass
class Overlay:
    """A request's URL settings and database, left applied on a session's connection after the request.

    ClickHouse applies URL settings (and ``database``) to one query; the session's own state — what its
    ``SET`` and ``USE`` statements set — is untouched by them. Restoring that state after every request
    cost a dozen engine calls per query (a snapshot of the settings, a ``SET`` per setting, the current
    database, and as many to undo), ~12 ms: clients send the same URL settings with every query (dbt:
    114 statements for one day of the final table's path, ~1.4 s). So the overlay is restored lazily:
    the next request changes only what differs — a setting it does not send gets the session's value
    back, one it sends with the same value is left as it is — and a ``SET``/``USE`` statement, which
    changes the session's own state, first restores all of it. Every query sees exactly the state eager
    restoring gave it; nothing else runs on the connection between requests (the session's lock).
    """

    settings: dict[str, str] = field(default_factory=dict)  # applied from a URL: name → value
    undo: dict[str, str] = field(default_factory=dict)  # name → the statement giving the session's value back
    database: str | None = None  # applied from a URL (None: the session's own current database)
    session_database: str | None = None  # the session's own current database, while ``database`` is set


@dataclass
class Session:
    """A ClickHouse HTTP session: one chDB connection, used by one request at a time."""

    session_id: str
    connection: Any
    timeout: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    overlay: Overlay = field(default_factory=Overlay)

    def expired(self, now: float) -> bool:
        return not self.lock.locked() and now - self.last_used > self.timeout


class Connection:
    """One chDB connection plus the per-request settings/database handling."""

    def __init__(self, raw: Any, engine: Engine, *, overlay: Overlay | None = None) -> None:
        self.raw = raw
        self.engine = engine
        self.overlay = overlay  # a session's connection: what its last request left applied (None: a fresh one)

    def execute(self, sql: str, fmt: str, params: dict[str, str] | None = None) -> tuple[bytes, QueryStats]:
        try:
            result = self.raw._conn.query(sql, fmt, params=params or {})
        except Exception as exc:  # chDB raises RuntimeError with ClickHouse's message
            settle(self.raw)
            raise engine_error(exc) from None
        data = result.bytes() or b""
        stats = QueryStats(
            read_rows=int(result.storage_rows_read()),
            read_bytes=int(result.storage_bytes_read()),
            written_rows=int(result.rows_written()),
            written_bytes=int(result.bytes_written()),
            result_rows=int(result.rows_read()),
            result_bytes=len(data),
            elapsed_ns=int(float(result.elapsed()) * 1e9),
        )
        return data, stats

    def stream(self, sql: str, fmt: str, params: dict[str, str] | None = None) -> ResultStream:
        """Start a query whose result is fetched block by block (see ResultStream)."""
        try:
            handle = self.raw._conn.send_query(sql, fmt, params=params or {})
        except Exception as exc:
            raise engine_error(exc) from None
        return ResultStream(self.raw, handle)

    def command(self, sql: str) -> None:
        self.execute(sql, "TabSeparated")

    def scalar(self, sql: str, params: dict[str, str] | None = None) -> str:
        data, _ = self.execute(sql, "TabSeparatedRaw", params)
        return data.decode().rstrip("\n")

    def start_insert(self, sql: str, fmt: str) -> Any:
        try:
            return self.raw.send_insert(sql, fmt)
        except Exception as exc:
            raise engine_error(exc) from None

    @contextmanager
    def scoped(
        self, settings: dict[str, str], database: str | None, restore: bool = True, readonly: bool = False
    ) -> Iterator[None]:
        """Apply URL settings and ``database`` for one query; a session keeps its own state.

        ``restore=False`` is for ``USE``/``SET`` statements, whose effect must outlive the query: a
        session's URL overlay is restored first, then the request's settings and database stay.
        ``readonly=True`` (a GET on a fresh connection) sets ``readonly = 2`` before the URL's
        settings, as ClickHouse does, so a URL ``readonly=0`` fails instead of lifting it.
        A session restores lazily (:class:`Overlay`): what this request applies is left for the next one.
        """
        if readonly:
            if self.overlay is not None:
                raise ValueError("a session's connection cannot take readonly and give it back")
            self.command("SET readonly = 2")
        if self.overlay is not None and restore:
            self._overlay(settings, database)
        else:  # a fresh connection (closed after the request), or a SET/USE whose effect stays
            if self.overlay is not None:
                self._overlay({}, None)
                self.overlay.undo.clear()  # the statement may change the session's own values: snapshot them anew
            if database:
                self.command(f"USE {quote_identifier(database)}")
            for name, value in settings.items():
                self.command(f"SET {quote_identifier(name)} = {quote_string(value)}")
        yield

    def _overlay(self, settings: dict[str, str], database: str | None) -> None:
        """Bring a session's connection from what the last request left applied to ``settings`` and ``database``
        on top of the session's own state (:class:`Overlay`)."""
        overlay = self.overlay
        assert overlay is not None
        for name in [n for n in overlay.settings if n not in settings]:
            # Suppressed as before: a restore must not fail the next query (the statement was valid once).
            with suppress(ClickHouseError):
                self.command(overlay.undo.get(name, f"SET {quote_identifier(name)} = DEFAULT"))
            del overlay.settings[name]
        database = database or None
        if database != overlay.database:
            if overlay.database is None:
                overlay.session_database = self.current_database()
            target = database if database else overlay.session_database
            try:
                self.command(f"USE {quote_identifier(target or 'default')}")
            except ClickHouseError:
                if database:  # the request's database does not exist: the query fails as ClickHouse's would
                    raise
                # the session's own database was dropped meanwhile (e.g. by a query in it): nothing to go back to
            overlay.database = database
            if database is None:
                overlay.session_database = None
        changed = {n: v for n, v in settings.items() if overlay.settings.get(n) != v}
        unseen = [n for n in changed if n not in overlay.undo]
        if unseen:
            overlay.undo.update(self._snapshot(unseen))
        for name, value in changed.items():
            self.command(f"SET {quote_identifier(name)} = {quote_string(value)}")
            overlay.settings[name] = value

    def current_database(self) -> str:
        return self.scalar("SELECT currentDatabase()")

    def _snapshot(self, names: list[str]) -> dict[str, str]:
        """Per setting, the statement that gives the connection its current value back."""
        rows = self.scalar(
            "SELECT name, changed, value FROM system.settings WHERE name IN {names:Array(String)}",
            {"names": "[" + ",".join(quote_string(n) for n in names) + "]"},
        )
        statements = {}
        for line in rows.splitlines():
            name, changed, value = line.split("\t", 2)
            target = quote_string(value) if changed == "1" else "DEFAULT"
            statements[name] = f"SET {quote_identifier(name)} = {target}"
        return statements

    def close(self) -> None:
        with suppress(Exception):
            self.raw.close()


class ResultStream:
    """A running query's result, one block of output bytes at a time, with running totals."""

    def __init__(self, raw: Any, handle: Any) -> None:
        self._raw = raw
        self._handle = handle
        self.stats = QueryStats()
        self.done = False

    def fetch(self) -> bytes | None:
        """The next piece of output; None at the end. A failure midway raises ClickHouseError."""
        if self.done:
            return None
        try:
            result = self._raw._conn.streaming_fetch_result(self._handle)
        except Exception as exc:
            self.done = True
            settle(self._raw)
            raise engine_error(exc) from None
        if result is None or result.rows_read() == 0:
            self.done = True
            return None
        data = result.bytes() or b""
        stats = self.stats
        stats.read_rows += int(result.storage_rows_read())
        stats.read_bytes += int(result.storage_bytes_read())
        stats.result_rows += int(result.rows_read())
        stats.result_bytes += len(data)
        stats.elapsed_ns += int(float(result.elapsed()) * 1e9)
        return data

    def cancel(self) -> None:
        if not self.done:
            self.done = True
            with suppress(Exception):
                self._raw._conn.streaming_cancel_query(self._handle)


class Engine:
    """Owns the chDB engine for one data path and the HTTP sessions over it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        # The root connection keeps the engine alive for the life of the server.
        self._root = chdb.connect(str(self.path))
        root = Connection(self._root, self)
        self.timezone = root.scalar("SELECT timezone()")
        self.version = root.scalar("SELECT version()")
        self.setting_names = frozenset(root.scalar("SELECT name FROM system.settings").splitlines())
        self.max_query_size = int(root.scalar("SELECT getSetting('max_query_size')"))
        self._sessions: dict[str, Session] = {}
        self._sessions_lock = threading.Lock()

    def connect(self) -> Connection:
        return Connection(chdb.connect(str(self.path)), self)

    @contextmanager
    def connection(self, session_id: str | None, timeout: float | None, check: bool) -> Iterator[Connection]:
        """A fresh connection, or the session's own one, held exclusively for one request."""
        if not session_id:
            conn = self.connect()
            try:
                yield conn
            finally:
                conn.close()
            return
        session = self._session(session_id, timeout, check)
        if not session.lock.acquire(blocking=False):
            raise ClickHouseError(373, f"Session {session_id} is locked by a concurrent client. (SESSION_IS_LOCKED)")
        try:
            yield Connection(session.connection, self, overlay=session.overlay)
        finally:
            session.last_used = time.monotonic()
            session.lock.release()

    def _session(self, session_id: str, timeout: float | None, check: bool) -> Session:
        with self._sessions_lock:
            session = self._sessions.get(session_id)
            if session is None:
                if check:
                    raise ClickHouseError(372, f"Session {session_id} not found. (SESSION_NOT_FOUND)")
                session = Session(session_id, chdb.connect(str(self.path)), timeout or DEFAULT_SESSION_TIMEOUT)
                self._sessions[session_id] = session
            elif timeout:
                session.timeout = timeout
            session.last_used = time.monotonic()
            return session

    def expire_sessions(self) -> int:
        """Close sessions idle longer than their timeout; returns how many were closed."""
        now = time.monotonic()
        with self._sessions_lock:
            stale = [s for s in self._sessions.values() if s.expired(now)]
            for session in stale:
                del self._sessions[session.session_id]
        for session in stale:
            with suppress(Exception):
                session.connection.close()
        return len(stale)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def close(self) -> None:
        with self._sessions_lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            with suppress(Exception):
                session.connection.close()
        self._root.close()


def settle(raw: Any) -> None:
    """After a failed query: a cheap query whose answer is thrown away. chDB 26.9 hands the output a query
    produced before it failed (``SELECT throwIf(number = 3000000) FROM numbers(10000000)``: three million
    rows) to the *next* query on the connection as that query's result, once; in a session, the client's
    next query would read another query's rows. Harmless when nothing was left over."""
    with suppress(Exception):
        raw._conn.query("SELECT 1", "TabSeparated", params={})


def new_query_id() -> str:
    return str(uuid.uuid4())


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
