"""Connection-level limits for the endpoint: header timeout, header size, connection cap.

uvicorn times out idle keep-alive connections but not a client that connects and never finishes
its request headers, and keeps every connection it accepts: 18,000 idle sockets exhausted the
file descriptors and every client was refused. ClickHouse bounds the same things with
``http_receive_timeout``, ``http_max_uri_size`` (1 MiB) and its connection limits. Here:

- a request's headers must be complete within ``header_timeout`` seconds of its first byte (or of
  the connection being accepted), else the connection is closed;
- request line + headers may take at most ``max_header_bytes`` (URLs up to 1 MiB fit);
- past ``max_connections`` open connections, the oldest connections that are not serving a
  request (idle keep-alive, still sending headers, never sent anything) are closed to make room,
  so a flood of idle sockets cannot lock out a real client.

Request bodies are timed in the request handler (``server.py``), where the error can be answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_URI_BYTES = 1 << 20  # ClickHouse's http_max_uri_size
PARSE_URL_LIMIT = 60_000


@dataclass
class ConnectionLimits:
    header_timeout: float = 30.0
    max_header_bytes: int = MAX_URI_BYTES + (256 << 10)
    max_connections: int = 4096
    open: dict[Any, None] = field(default_factory=dict)  # oldest first
    evicted: int = 0


def raise_fd_limit() -> int:
    """Lift the soft file-descriptor limit to the hard one; returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the limits above."""

    class GuardedProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_bytes = 0
            self._awaiting_headers = True
            self._rejected = False
            self._header_timer: asyncio.TimerHandle | None = None
            self._arm_header_timer()
            limits.open[self] = None
            if len(limits.open) > limits.max_connections:
                _make_room(limits, self)

        def connection_lost(self, exc: Exception | None) -> None:
            limits.open.pop(self, None)
            self._disarm_header_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if not self._rejected:
                super().data_received(data)

        def on_url(self, url: bytes) -> None:
            self._count_header_bytes(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_header_bytes(len(name) + len(value))
            super().on_header(name, value)

        def _count_header_bytes(self, size: int) -> None:
            self._header_bytes += size
            if self._header_bytes > limits.max_header_bytes and not self._rejected:
                self._disarm_header_timer()
                self._reject(431, "Request header fields too large (the URL may take up to 1 MiB).")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._awaiting_headers = True
            self._header_bytes = 0
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            if self._rejected:
                return
            self._awaiting_headers = False
            self._disarm_header_timer()
            url = self.url
            if len(url) < PARSE_URL_LIMIT:
                super().on_headers_complete()
                return
            # httptools.parse_url keeps offsets in 16 bits and fails on URLs past 64 KiB (the
            # "URLs >= 70 KB are rejected" of issue 14); split the query off ourselves instead.
            path, _, query = url.partition(b"?")
            self.url = path[:PARSE_URL_LIMIT]
            try:
                super().on_headers_complete()
            finally:
                self.url = url
            if self.scope.get("type") == "http":
                self.scope["query_string"] = query.partition(b"#")[0]

        def busy(self) -> bool:
            return not self._awaiting_headers and self.cycle is not None and not self.cycle.response_complete

        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(limits.header_timeout, self._header_timeout)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self._awaiting_headers and not self.transport.is_closing():
                self.transport.close()

        def _reject(self, status: int, message: str) -> None:
            self._rejected = True
            body = message.encode()
            self.transport.write(
                f"HTTP/1.1 {status} Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body
            )
            self.transport.close()

    return GuardedProtocol


def _make_room(limits: ConnectionLimits, newest: Any) -> None:
    """Close the oldest connections that serve no request until the count is within the cap."""
    for conn in list(limits.open):
        if len(limits.open) <= limits.max_connections:
            return
        if conn is newest or conn.busy():
            continue
        limits.open.pop(conn, None)
        limits.evicted += 1
        conn.transport.close()
    if len(limits.open) > limits.max_connections:  # every other connection is busy: refuse the newcomer
        limits.open.pop(newest, None)
        newest.transport.close()
