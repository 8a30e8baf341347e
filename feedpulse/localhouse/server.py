"""ClickHouse's HTTP interface over the embedded chDB engine.

Starlette + uvicorn were chosen over a WSGI server because the request body arrives as a true
stream (``request.stream()``): a chunked, lz4-compressed Native insert is decoded and pushed into
chDB's streaming insert block by block, never spooled to a file or held whole in memory. chDB
calls block, so they run in Starlette's thread pool; queries from separate requests run in
parallel in the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from feedpulse.localhouse.compression import StreamDecoder, compress, pick_response_encoding, request_decoder
from feedpulse.localhouse.engine import Engine, QueryStats, engine_error, new_query_id
from feedpulse.localhouse.errors import ClickHouseError
from feedpulse.localhouse.protocol import (
    DataInsert,
    RequestParams,
    content_type,
    credentials,
    data_insert,
    may_be_data_insert,
    output_format,
    parse_params,
    statement_keyword,
)

log = logging.getLogger("feedpulse.localhouse")

INSERT_BLOCK_BYTES = 1 << 20  # compressed bytes gathered before one decode+append round trip
MAX_QUERY_BODY_BYTES = 1 << 30
MAX_STATEMENT_BYTES = 1 << 20  # an INSERT statement longer than this is read as a plain query


@dataclass(frozen=True)
class ServerConfig:
    path: Path
    host: str = "127.0.0.1"
    port: int = 8123
    user: str = "default"
    password: str = field(default="", repr=False)
    display_name: str = "feedpulse-localhouse"


class LocalHouse:
    """The request handler: authentication, parameters, queries, streaming inserts, headers."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.engine = Engine(config.path)
        # Cumulative engine work, served at /feedpulse/stats: the local stand-in for system.query_log
        # (which chDB does not keep), used by the benchmarks to report time spent inside ClickHouse.
        self.totals = {"queries": 0, "errors": 0, "engine_seconds": 0.0, "read_rows": 0, "written_rows": 0}
        self._totals_lock = threading.Lock()

    # -- HTTP entry points -------------------------------------------------------------------
    async def ping(self, request: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def stats(self, request: Request) -> Response:
        try:
            self._authenticate(request)
        except ClickHouseError as exc:
            return self._error(exc, new_query_id())
        with self._totals_lock:
            totals = dict(self.totals)
        totals["sessions"] = self.engine.session_count
        return JSONResponse(totals)

    def _count(self, stats: QueryStats | None) -> None:
        with self._totals_lock:
            if stats is None:
                self.totals["errors"] += 1
                return
            self.totals["queries"] += 1
            self.totals["engine_seconds"] += stats.elapsed_ns / 1e9
            self.totals["read_rows"] += stats.read_rows
            self.totals["written_rows"] += stats.written_rows

    async def handle(self, request: Request) -> Response:
        query_id = request.query_params.get("query_id") or new_query_id()
        try:
            self._authenticate(request)
            params = parse_params(request.query_params, self.engine.setting_names)
            if request.method == "GET" and not params.query:
                return PlainTextResponse("Ok.\n")
            if request.method == "GET" and not params.session_id:
                params.settings.setdefault("readonly", "2")
            if params.ignored:
                log.debug("ignoring unknown URL parameters: %s", ", ".join(sorted(params.ignored)))
            body = _decoded(request.stream(), request_decoder(request.headers.get("content-encoding")))
            head = params.query.encode()
            if not head:
                # No `query` parameter: the statement opens the body, maybe followed by its rows.
                head, body = await _split_statement(body)
            elif request.method == "POST" and data_insert(head) is None:
                head = head + b"\n" + await _read_all(body) if head else await _read_all(body)
            insert = data_insert(head)
            if insert is not None:
                stats = await self._stream_insert(params, insert, body)
                return self._response(b"", "TabSeparated", stats, query_id, request, params)
            query = head.decode("utf-8", errors="replace")
            if not query.strip():
                raise ClickHouseError(62, "Empty query. (SYNTAX_ERROR)")
            fmt = output_format(query, params.default_format)
            data, stats = await run_in_threadpool(self._run_query, params, query, fmt)
            return self._response(data, fmt, stats, query_id, request, params)
        except ClickHouseError as exc:
            return self._error(exc, query_id)

    # -- pieces --------------------------------------------------------------------------------
    def _authenticate(self, request: Request) -> None:
        given = credentials(request.headers, request.query_params)
        user_ok = hmac.compare_digest(given.user.encode(), self.config.user.encode())
        password_ok = hmac.compare_digest(given.password.encode(), self.config.password.encode())
        if not (user_ok and password_ok):
            raise ClickHouseError(
                516,
                f"{given.user}: Authentication failed: password is incorrect, or there is no user with "
                "such name. (AUTHENTICATION_FAILED)",
            )

    def _run_query(self, params: RequestParams, query: str, fmt: str) -> tuple[bytes, QueryStats]:
        with self.engine.connection(params.session_id, params.session_timeout, params.session_check) as conn:
            persist = statement_keyword(query) in ("USE", "SET")
            with conn.scoped(params.settings, params.database, restore=not persist):
                return conn.execute(query, fmt, params.query_parameters)

    async def _stream_insert(self, params: RequestParams, insert: DataInsert, body: AsyncIterator[bytes]) -> QueryStats:
        """Push the rows into chDB's streaming insert block by block as they arrive."""
        with self.engine.connection(params.session_id, params.session_timeout, params.session_check) as conn:
            scope = conn.scoped(params.settings, params.database)
            await run_in_threadpool(scope.__enter__)
            try:
                inserter = await run_in_threadpool(conn.start_insert, insert.sql, insert.fmt)
                try:
                    pending = bytearray(insert.inline)
                    async for chunk in body:
                        pending += chunk
                        if len(pending) >= INSERT_BLOCK_BYTES:
                            await run_in_threadpool(_append, inserter, bytes(pending))
                            pending.clear()
                    if pending:
                        await run_in_threadpool(_append, inserter, bytes(pending))
                except BaseException:
                    with contextlib.suppress(Exception):
                        inserter.cancel()
                    raise
                return await run_in_threadpool(_finish, inserter)
            finally:
                await run_in_threadpool(scope.__exit__, None, None, None)

    def _response(
        self, data: bytes, fmt: str, stats: QueryStats, query_id: str, request: Request, params: RequestParams
    ) -> Response:
        self._count(stats)
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Timezone": self.engine.timezone,
            "X-ClickHouse-Server-Display-Name": self.config.display_name,
            "X-ClickHouse-Summary": json.dumps(stats.as_header(), separators=(",", ":")),
        }
        if params.session_id:
            headers["X-ClickHouse-Session-Id"] = params.session_id
        encoding = pick_response_encoding(request.headers.get("accept-encoding")) if params.http_compression else None
        if encoding and data:
            data = compress(data, encoding)
            headers["Content-Encoding"] = encoding
        return Response(data, status_code=200, headers=headers, media_type=content_type(fmt))

    def _error(self, exc: ClickHouseError, query_id: str) -> Response:
        self._count(None)
        text = exc.text
        if "(version " not in text:
            text = f"{text} (version {self.engine.version} (chDB))"
        return Response(
            text + "\n",
            status_code=exc.http_status,
            headers={
                "X-ClickHouse-Exception-Code": str(exc.code),
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Timezone": self.engine.timezone,
            },
            media_type="text/plain; charset=UTF-8",
        )

    # -- lifecycle -----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        reaper = asyncio.create_task(self._expire_sessions())
        try:
            yield
        finally:
            reaper.cancel()
            self.engine.close()

    async def _expire_sessions(self) -> None:
        while True:
            await asyncio.sleep(5)
            closed = await run_in_threadpool(self.engine.expire_sessions)
            if closed:
                log.debug("closed %d expired session(s)", closed)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/ping", self.ping, methods=["GET", "HEAD"]),
                Route("/replicas_status", self.ping, methods=["GET"]),
                Route("/feedpulse/stats", self.stats, methods=["GET"]),
                Route("/", self.handle, methods=["GET", "POST"]),
            ],
            lifespan=self.lifespan,
        )


async def _decoded(stream: AsyncIterator[bytes], decoder: StreamDecoder) -> AsyncIterator[bytes]:
    async for chunk in stream:
        data = decoder.feed(chunk)
        if data:
            yield data
    tail = decoder.finish()
    if tail:
        yield tail


async def _read_all(body: AsyncIterator[bytes]) -> bytes:
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) > MAX_QUERY_BODY_BYTES:
            raise ClickHouseError(36, "Query body is larger than 1 GiB. (BAD_ARGUMENTS)")
    return bytes(data)


async def _split_statement(body: AsyncIterator[bytes]) -> tuple[bytes, AsyncIterator[bytes]]:
    """Read just enough of the body to tell an INSERT-with-rows from a plain query.

    Returns the statement (for an INSERT: the statement and the rows read so far) and the rest
    of the body, still unread, so that rows stream on into the insert.
    """
    prefix = bytearray()
    async for chunk in body:
        prefix += chunk
        if not may_be_data_insert(bytes(prefix[:64])) and len(prefix) >= 64:
            return bytes(prefix) + await _read_all(body), _empty()
        insert = data_insert(bytes(prefix))
        if (insert is not None and insert.complete) or len(prefix) > MAX_STATEMENT_BYTES:
            return bytes(prefix), body
    return bytes(prefix), _empty()


async def _empty() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover - makes this an async generator


def _append(inserter, data: bytes) -> None:
    try:
        inserter.append(data)
    except Exception as exc:
        raise _insert_error(exc) from None


def _finish(inserter) -> QueryStats:
    try:
        result = inserter.finish()
    except Exception as exc:
        raise _insert_error(exc) from None
    return QueryStats(
        written_rows=int(result.rows_written),
        written_bytes=int(result.bytes_written),
        elapsed_ns=int(float(result.elapsed) * 1e9),
    )


def _insert_error(exc: BaseException) -> ClickHouseError:
    if isinstance(exc, ClickHouseError):
        return exc
    return engine_error(exc)


def serve(config: ServerConfig, log_level: str = "warning") -> None:
    """Run the endpoint in the foreground until interrupted."""
    house = LocalHouse(config)
    uvicorn.run(
        house.app(),
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=30,
        server_header=False,
    )
