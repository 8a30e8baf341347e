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
import ipaddress
import json
import logging
import secrets
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from feedpulse.localhouse.compression import (
    Identity,
    StreamCompressor,
    StreamDecoder,
    compress,
    pick_response_encoding,
    request_decoder,
)
from feedpulse.localhouse.differences import DISPLAY_NAME
from feedpulse.localhouse.engine import Engine, QueryStats, ResultStream, engine_error, new_query_id
from feedpulse.localhouse.errors import ClickHouseError
from feedpulse.localhouse.external import (
    ExternalTable,
    external_tables,
    form_params,
    is_multipart,
    load_external_tables,
)
from feedpulse.localhouse.protocol import (
    RESULT_KEYWORDS,
    STREAMABLE_FORMATS,
    DataInsert,
    RequestParams,
    content_type,
    credentials,
    data_insert,
    may_be_data_insert,
    output_format,
    parse_params,
)
from feedpulse.localhouse.sqllex import check_readonly, check_single_statement
from feedpulse.localhouse.transport import ConnectionLimits, guarded_protocol, raise_fd_limit

log = logging.getLogger("feedpulse.localhouse")

INSERT_BLOCK_BYTES = 1 << 20  # decoded bytes gathered before one append round trip
DECODE_PIECE_BYTES = 1 << 20  # most decompressed bytes produced by one decoding step
MAX_STATEMENT_BYTES = 1 << 20  # an INSERT statement longer than this is read as a plain query
MAX_INSERT_TEXT_BYTES = 256 << 20  # an INSERT … VALUES sent as query text (not streamed rows)
SPOOL_MEMORY_BYTES = 32 << 20  # a verified compressed insert spills to a temporary file past this
BOMB_CHECK_BYTES = 64 << 20  # the decompression ratio is checked once this much came out
DRAIN_SECONDS = 5.0
MAX_EXTERNAL_TABLES = 100
MAX_FORM_FIELD_BYTES = 1 << 20  # a non-file form field (the query, param_*); ClickHouse allows 128 KiB
# ClickHouse sends the headers with the first block unless the client asks for more to be held
# back (``buffer_size`` above 1 MiB, its write buffer); an error after that arrives in-stream.
DEFAULT_BUFFER_BYTES = 1 << 20
STREAM_KEYWORDS = frozenset({"SELECT", "WITH", "("})  # what chDB can stream (not SHOW, DESCRIBE, …)
DRAIN_MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class ServerConfig:
    path: Path
    host: str = "127.0.0.1"
    port: int = 8123
    user: str = "default"
    password: str = field(default="", repr=False)
    display_name: str = DISPLAY_NAME
    max_body_bytes: int = 64 << 30  # decompressed request body, inserts included
    allow_remote_without_password: bool = False
    header_timeout: float = 30.0  # request line + headers, from the first byte (http_receive_timeout)
    receive_timeout: float = 30.0  # between two pieces of a request body (http_receive_timeout)
    keep_alive_timeout: float = 30.0  # an idle keep-alive connection is closed after this
    max_connections: int = 4096  # past this the oldest connections serving no request are closed
    # Past BOMB_CHECK_BYTES decompressed, a body expanding more than this is refused: lz4 cannot
    # exceed ~255:1 and real gzip/zstd inserts stay far below; zeros in gzip reach ~1000:1.
    max_decompression_ratio: int = 400

    def check_exposure(self) -> None:
        """Refuse a non-loopback bind with an empty password unless explicitly allowed.

        With no password any host that reaches the port owns the data; on loopback that is the
        developer's own machine, anywhere else it must be a conscious choice.
        """
        if self.password or self.allow_remote_without_password or is_loopback(self.host):
            return
        raise SystemExit(
            f"refusing to listen on {self.host} without a password: anyone who reaches port {self.port} could read "
            "and drop every table. Set CLICKHOUSE_PASSWORD, bind to 127.0.0.1, or pass "
            "--allow-remote-without-password if this network is trusted."
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
            return await self._handle(request, query_id)
        except ClickHouseError as exc:
            if exc.code != 209:  # a stalled client is not waited for twice
                await _drain(request)
            return self._error(exc, query_id)
        except Exception as exc:  # never a bare 500 with a traceback: answer as ClickHouse would
            log.exception("request failed")
            await _drain(request)
            return self._error(ClickHouseError(1001, f"{type(exc).__name__}: {exc}. (STD_EXCEPTION)"), query_id)

    async def _handle(self, request: Request, query_id: str) -> Response:
        self._authenticate(request)
        form: FormData | None = None
        if request.method == "POST" and is_multipart(request.headers.get("content-type")):
            form = await self._form(request)
            params = parse_params(form_params(request.query_params, form), self.engine.setting_names, external=True)
        else:
            params = parse_params(request.query_params, self.engine.setting_names)
        if request.method == "GET" and not params.query:
            return PlainTextResponse("Ok.\n")
        readonly = _readonly_level(request.method, params)
        decoder = request_decoder(request.headers.get("content-encoding"))
        body = _decoded(_timed(_body(request), self.config.receive_timeout), decoder, self.config)
        head = params.query.encode()
        if form is not None:
            # multipart/form-data: the query is a field (or in the URL), the files are external tables
            return await self._with_external_tables(params, form, query_id, request)
        if not head:
            # No `query` parameter: the statement opens the body, maybe followed by its rows.
            head, body = await _split_statement(body, self._query_cap(params))
        elif request.method == "POST" and data_insert(head) is None:
            rest = await _read_all(body, self._query_cap(params, head))
            head = head + b"\n" + rest if rest else head
        insert = data_insert(head)
        if insert is not None:
            check_single_statement(insert.sql)
            if readonly:
                raise ClickHouseError(164, "default: Cannot execute query in readonly mode. (READONLY)")
            if not isinstance(decoder, Identity):
                # Verified to its end before the first row reaches the table: chDB writes parts
                # as blocks fill, and a cancelled insert cannot take them back.
                body = await _verified(body)
            stats = await self._stream_insert(params, insert, body)
            return self._response(b"", None, stats, query_id, request, params)
        query = head.decode("utf-8", errors="surrogateescape")  # for the lexer; the engine gets the bytes
        if not query.strip():
            raise ClickHouseError(62, "Empty query. (SYNTAX_ERROR)")
        stmt = check_single_statement(query)
        if params.session_id:
            check_readonly(stmt, readonly)  # a session's connection cannot take readonly and give it back
        fmt = output_format(query, params.default_format)
        has_result = stmt.keyword in RESULT_KEYWORDS
        sql: str | bytes = query if query.isascii() or _is_utf8(head) else head
        if stmt.keyword in STREAM_KEYWORDS and fmt.lower() in STREAMABLE_FORMATS and not params.wait_end_of_query:
            return await self._streamed(params, sql, fmt, query_id, request)
        data, stats = await run_in_threadpool(self._run_query, params, sql, fmt, stmt.keyword)
        return self._response(data, fmt if has_result else None, stats, query_id, request, params)

    async def _streamed(
        self, params: RequestParams, sql: str | bytes, fmt: str, query_id: str, request: Request
    ) -> Response:
        """Send a result as the engine produces it, like ClickHouse's HTTP handler.

        As in ClickHouse the headers leave with the first block (or after ``buffer_size`` bytes when
        the client asks for more than 1 MiB to be held back): a result that fails before its first
        block gets a plain answer with the right status; a one-block result is answered whole. Past
        that the rows go out as they come, and an error arrives in-stream, wrapped in the exception
        tag announced in ``X-ClickHouse-Exception-Tag`` (ClickHouse 25.11+), after the rows sent.
        """
        stack, stream = await run_in_threadpool(self._open_stream, params, sql, fmt)
        held: list[bytes] = []
        failure: ClickHouseError | None = None
        hold = _buffer_size(params)
        try:
            size = 0
            while len(held) < 2 or size < hold:  # one block past the first tells a one-block result
                chunk = await run_in_threadpool(stream.fetch)
                if chunk is None:
                    break
                held.append(chunk)
                size += len(chunk)
        except ClickHouseError as exc:
            if not held:
                await _close(stack)
                raise
            failure = exc  # the first block was already due to the client: the error follows it
        except BaseException:
            await _close(stack)
            raise
        if stream.done and failure is None:
            await _close(stack)
            return self._response(b"".join(held), fmt, stream.stats, query_id, request, params)
        tag = secrets.token_hex(8)
        headers = self._headers(fmt, stream.stats, query_id, params)
        headers["X-ClickHouse-Exception-Tag"] = tag
        encoding = pick_response_encoding(request.headers.get("accept-encoding")) if params.http_compression else None
        if encoding:
            headers["Content-Encoding"] = encoding
        body = self._stream_body(stack, stream, held, tag, StreamCompressor(encoding) if encoding else None, failure)
        return StreamingResponse(body, status_code=200, headers=headers, media_type=content_type(fmt))

    async def _stream_body(
        self,
        stack: contextlib.ExitStack,
        stream: ResultStream,
        held: list[bytes],
        tag: str,
        packer: Any,
        failure: ClickHouseError | None,
    ) -> AsyncIterator[bytes]:
        def pack(data: bytes) -> bytes:
            return packer.compress(data) if packer else data

        try:
            for chunk in held:
                yield pack(chunk)
            held.clear()
            if failure is not None:
                raise failure
            while (chunk := await run_in_threadpool(stream.fetch)) is not None:
                yield pack(chunk)
            self._count(stream.stats)
        except ClickHouseError as exc:
            self._count(None)
            message = self._error_text(exc).encode()
            yield pack(b"__exception__\r\n" + tag.encode() + b"\r\n" + message + b"\n")
            yield pack(f"{len(message)} {tag}\r\n__exception__\r\n".encode())
        finally:
            with anyio.CancelScope(shield=True):
                await _close(stack)
        if packer:
            yield packer.finish()

    def _open_stream(
        self, params: RequestParams, sql: str | bytes, fmt: str
    ) -> tuple[contextlib.ExitStack, ResultStream]:
        stack = contextlib.ExitStack()
        try:
            conn = stack.enter_context(
                self.engine.connection(params.session_id, params.session_timeout, params.session_check)
            )
            stack.enter_context(conn.scoped(params.settings, params.database, readonly=params.forced_readonly))
            stream = conn.stream(sql, fmt, params.query_parameters)
            stack.callback(stream.cancel)
        except BaseException:
            stack.close()
            raise
        return stack, stream

    def _query_cap(self, params: RequestParams, head: bytes = b"") -> int:
        """How much of a body that is query text (not rows) is read: what ClickHouse parses at most.

        A statement longer than ``max_query_size`` fails in the engine's parser exactly as in
        ClickHouse; reading one byte more than that is enough to let it say so. An INSERT whose
        VALUES follow in the text is not bounded by the parser, so it gets the body cap instead.
        """
        if may_be_data_insert(head):
            return MAX_INSERT_TEXT_BYTES
        try:
            size = int(params.settings.get("max_query_size", self.engine.max_query_size))
        except ValueError:
            size = self.engine.max_query_size
        return max(size, 0) + 1

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

    def _run_query(
        self,
        params: RequestParams,
        query: str | bytes,
        fmt: str,
        keyword: str,
        tables: list[ExternalTable] | None = None,
    ) -> tuple[bytes, QueryStats]:
        with self.engine.connection(params.session_id, params.session_timeout, params.session_check) as conn:
            persist = keyword in ("USE", "SET")
            with conn.scoped(params.settings, params.database, restore=not persist, readonly=params.forced_readonly):
                if not tables:
                    return conn.execute(query, fmt, params.query_parameters)
                with load_external_tables(conn, tables):
                    return conn.execute(query, fmt, params.query_parameters)

    async def _form(self, request: Request) -> FormData:
        parser = MultiPartParser(
            request.headers,
            _timed(_body(request), self.config.receive_timeout),
            max_files=MAX_EXTERNAL_TABLES,
            max_fields=1000,
            max_part_size=MAX_FORM_FIELD_BYTES,
        )
        try:
            return await parser.parse()
        except MultiPartException as exc:
            raise ClickHouseError(
                36, f"Cannot parse multipart/form-data body: {exc.message}. (BAD_ARGUMENTS)"
            ) from None

    async def _with_external_tables(
        self, params: RequestParams, form: FormData, query_id: str, request: Request
    ) -> Response:
        """ClickHouse's external data: each file part is a temporary table for this one query."""
        try:
            tables = external_tables(form, params.raw)
            query = params.query
            if not query.strip():
                raise ClickHouseError(62, "Empty query. (SYNTAX_ERROR)")
            stmt = check_single_statement(query)
            fmt = output_format(query, params.default_format)
            data, stats = await run_in_threadpool(self._run_query, params, query, fmt, stmt.keyword, tables)
            return self._response(
                data, fmt if stmt.keyword in RESULT_KEYWORDS else None, stats, query_id, request, params
            )
        finally:
            await form.close()

    async def _stream_insert(self, params: RequestParams, insert: DataInsert, body: AsyncIterator[bytes]) -> QueryStats:
        """Push the rows into chDB's streaming insert block by block as they arrive.

        The engine is not touched until a first block (or the whole body) is in: a client that
        stalls before that holds a socket, not a chDB connection and its threads; a small insert
        (the usual case) is one round trip to the engine.
        """
        rows = body.__aiter__()
        pending = bytearray(insert.inline)
        while len(pending) < INSERT_BLOCK_BYTES:
            try:
                pending += await rows.__anext__()
            except StopAsyncIteration:
                return await run_in_threadpool(self._insert_whole, params, insert, bytes(pending))
        with self.engine.connection(params.session_id, params.session_timeout, params.session_check) as conn:
            scope = conn.scoped(params.settings, params.database, readonly=params.forced_readonly)
            await run_in_threadpool(scope.__enter__)
            try:
                inserter = await run_in_threadpool(conn.start_insert, insert.sql, insert.fmt)
                try:
                    async for chunk in rows:
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

    def _insert_whole(self, params: RequestParams, insert: DataInsert, data: bytes) -> QueryStats:
        with self.engine.connection(params.session_id, params.session_timeout, params.session_check) as conn:
            with conn.scoped(params.settings, params.database, readonly=params.forced_readonly):
                inserter = conn.start_insert(insert.sql, insert.fmt)
                try:
                    if data:
                        _append(inserter, data)
                except BaseException:
                    with contextlib.suppress(Exception):
                        inserter.cancel()
                    raise
                return _finish(inserter)

    def _response(
        self,
        data: bytes,
        fmt: str | None,
        stats: QueryStats,
        query_id: str,
        request: Request,
        params: RequestParams,
    ) -> Response:
        """A complete answer; ``fmt`` None for statements without a result (no X-ClickHouse-Format)."""
        self._count(stats)
        headers = self._headers(fmt, stats, query_id, params)
        encoding = pick_response_encoding(request.headers.get("accept-encoding")) if params.http_compression else None
        if encoding and data:
            data = compress(data, encoding)
            headers["Content-Encoding"] = encoding
        media = content_type(fmt) if fmt else "text/plain; charset=UTF-8"
        return Response(data, status_code=200, headers=headers, media_type=media)

    def _headers(self, fmt: str | None, stats: QueryStats, query_id: str, params: RequestParams) -> dict[str, str]:
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self.engine.timezone,
            "X-ClickHouse-Server-Display-Name": self.config.display_name,
            "X-ClickHouse-Summary": json.dumps(stats.as_header(), separators=(",", ":")),
        }
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
        if params.session_id:
            headers["X-ClickHouse-Session-Id"] = params.session_id
        return headers

    def _error_text(self, exc: ClickHouseError) -> str:
        text = exc.text
        if "(version " not in text:
            text = f"{text} (version {self.engine.version} (chDB))"
        return text

    def _error(self, exc: ClickHouseError, query_id: str) -> Response:
        self._count(None)
        text = self._error_text(exc)
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


async def _decoded(stream: AsyncIterator[bytes], decoder: StreamDecoder, config: ServerConfig) -> AsyncIterator[bytes]:
    """The decompressed body, in pieces of at most DECODE_PIECE_BYTES, checked to its very end.

    Decompression runs in the thread pool (never on the event loop) and the total is capped, so a
    small bomb neither freezes other clients nor grows the server; ``finish`` raises on a truncated
    stream, before the caller commits anything.
    """
    total = compressed = 0
    identity = isinstance(decoder, Identity)
    async for chunk in stream:
        compressed += len(chunk)
        if identity:
            pieces = [chunk] if chunk else []
        else:
            decoder.feed(chunk)
            pieces = []
        while True:
            if not pieces:
                if identity:
                    break
                piece = await run_in_threadpool(decoder.read, DECODE_PIECE_BYTES)
                if not piece:
                    break
                pieces.append(piece)
            piece = pieces.pop()
            total += len(piece)
            if not identity and total > BOMB_CHECK_BYTES and total > compressed * config.max_decompression_ratio:
                raise ClickHouseError(
                    271,
                    f"Cannot decompress the request body: more than {config.max_decompression_ratio}:1 after "
                    f"{total} bytes (a decompression bomb; feedpulse localhouse's limit). (CANNOT_DECOMPRESS)",
                )
            if total > config.max_body_bytes:
                raise ClickHouseError(
                    229,
                    f"The request body is larger than {config.max_body_bytes} bytes once decompressed "
                    "(feedpulse localhouse's body cap). (QUERY_IS_TOO_LARGE)",
                )
            yield piece
    decoder.finish()


async def _close(stack: contextlib.ExitStack) -> None:
    await run_in_threadpool(stack.close)


def _buffer_size(params: RequestParams) -> int:
    """Bytes of result held back before the headers: ``buffer_size`` when above ClickHouse's 1 MiB."""
    try:
        size = int(params.raw.get("buffer_size", "0"))
    except ValueError:
        size = 0
    return size if size > DEFAULT_BUFFER_BYTES else 0


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _timed(stream: AsyncIterator[bytes], timeout: float) -> AsyncIterator[bytes]:
    """The request body, each piece due within ``timeout`` seconds (ClickHouse's http_receive_timeout)."""
    chunks = stream.__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), timeout)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise ClickHouseError(
                209, f"Timeout exceeded while receiving data from client. Waited for {timeout:g} s. (SOCKET_TIMEOUT)"
            ) from None
        yield chunk


async def _verified(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Decompress the whole body into a spool (memory, then a temporary file) and check its end."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - _read_spool closes it
    try:
        async for piece in body:
            await run_in_threadpool(spool.write, piece)
        await run_in_threadpool(spool.seek, 0)
    except BaseException:
        spool.close()
        raise
    return _read_spool(spool)


async def _read_spool(spool: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while data := await run_in_threadpool(spool.read, INSERT_BLOCK_BYTES):
            yield data
    finally:
        spool.close()


async def _read_all(body: AsyncIterator[bytes], cap: int) -> bytes:
    """The rest of a body that is query text; stops reading once past ``cap`` bytes."""
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) >= cap:
            break
    return bytes(data[:cap])


async def _split_statement(body: AsyncIterator[bytes], cap: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """Read just enough of the body to tell an INSERT-with-rows from a plain query.

    Returns the statement (for an INSERT: the statement and the rows read so far) and the rest
    of the body, still unread, so that rows stream on into the insert.
    """
    prefix = bytearray()
    async for chunk in body:
        prefix += chunk
        if not may_be_data_insert(bytes(prefix[:64])) and len(prefix) >= 64:
            rest = await _read_all(body, max(cap - len(prefix), 0)) if len(prefix) < cap else b""
            return (bytes(prefix) + rest)[:cap], _empty()
        insert = data_insert(bytes(prefix))
        if insert is not None and insert.complete:
            return bytes(prefix), body
        if len(prefix) > MAX_STATEMENT_BYTES:
            # An INSERT … VALUES/SELECT longer than a statement: query text to its end (capped).
            return bytes(prefix) + await _read_all(body, MAX_INSERT_TEXT_BYTES), _empty()
    return bytes(prefix), _empty()


class _RequestBody:
    """The request body read once, remembering whether it was read to its end."""

    def __init__(self, request: Request) -> None:
        self._chunks = request.stream().__aiter__()
        self.finished = False

    def __aiter__(self) -> _RequestBody:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            self.finished = True
            raise


def _body(request: Request) -> _RequestBody:
    body = request.scope.get("feedpulse.body")
    if body is None:
        body = request.scope["feedpulse.body"] = _RequestBody(request)
    return body


async def _drain(request: Request) -> None:
    """Read what is left of a failed request's body (bounded), so the connection stays usable.

    ClickHouse reads the whole body before answering an error on a keep-alive connection; a
    client that keeps sending after that gets its answer instead of a reset.
    """
    if request.method != "POST":
        return
    body = request.scope.get("feedpulse.body")
    if body is None:  # nothing read yet
        body = _body(request)
    elif body.finished:
        return

    async def consume() -> None:
        drained = 0
        async for chunk in body:
            drained += len(chunk)
            if drained > DRAIN_MAX_BYTES:
                return

    with contextlib.suppress(Exception):
        await asyncio.wait_for(consume(), DRAIN_SECONDS)


def _readonly_level(method: str, params: RequestParams) -> int:
    """ClickHouse forces ``readonly = 2`` on GET whatever the URL says.

    Without a session the fresh connection takes the setting and the engine enforces it (a URL
    ``readonly=0`` then fails as in ClickHouse: the setting cannot be changed in readonly mode).
    A session's connection cannot take ``readonly`` and give it back, so there the level is
    returned and the statement is checked instead, and ``readonly`` never reaches the session.
    """
    url_level = params.settings.get("readonly")
    if params.session_id:
        params.settings.pop("readonly", None)
        if method == "GET":
            if url_level is not None:
                raise ClickHouseError(164, "Cannot modify 'readonly' setting in readonly mode. (READONLY)")
            return 2
        return _int_setting(url_level) if url_level is not None else 0
    if method == "GET":
        params.forced_readonly = True
        return 2
    return _int_setting(url_level) if url_level is not None else 0


def _int_setting(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ClickHouseError(
            72, f"Cannot parse the value of setting readonly: '{value}'. (CANNOT_PARSE_NUMBER)"
        ) from None


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
    config.check_exposure()
    fd_limit = raise_fd_limit()
    limits = ConnectionLimits(
        header_timeout=config.header_timeout,
        max_connections=min(config.max_connections, max(fd_limit - 512, 64)),
    )
    house = LocalHouse(config)
    uvicorn.run(
        house.app(),
        host=config.host,
        port=config.port,
        http=guarded_protocol(limits),
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=config.keep_alive_timeout,
        server_header=False,
        backlog=4096,
    )
