"""HTTP body (de)compression for the encodings ClickHouse accepts.

Request bodies are decoded as a stream with bounded output: ``feed`` hands over compressed bytes,
``read(limit)`` returns at most ``limit`` decompressed bytes, so a few kilobytes that expand to
gigabytes (a decompression bomb) never sit in memory at once; the server calls ``read`` off the
event loop and caps the total. ``finish`` verifies the stream really ended: a truncated frame or
member is an error, never a shorter body taken as complete.

clickhouse-connect sends inserts as a chunked body with ``Content-Encoding: lz4`` holding a
*sequence* of lz4 frames (one per block); gzip may have several members. Every decoder here
restarts on the unused tail until the input ends, as ClickHouse's inflating buffers do.
"""

from __future__ import annotations

import bz2
import lzma
import sys
import zlib
from collections.abc import Callable
from typing import Any, Protocol

import lz4.frame
import zstandard

from feedpulse.localhouse.errors import ClickHouseError

if sys.version_info >= (3, 14):  # pragma: no cover - the stdlib module on newer Pythons
    from compression import zstd as _zstd
else:
    from backports import zstd as _zstd

try:
    import brotli
except ImportError:  # pragma: no cover - brotli is a declared dependency; tolerate a trimmed install
    brotli = None

# ClickHouse's error codes for a body that cannot be decompressed, by encoding.
ZLIB_INFLATE_FAILED = 354
ZSTD_DECODER_FAILED = 561
LZ4_DECODER_FAILED = 618
BROTLI_READ_FAILED = 448
CANNOT_DECOMPRESS = 271
BAD_ARGUMENTS = 36


class StreamDecoder(Protocol):
    def feed(self, data: bytes) -> None: ...
    def read(self, limit: int) -> bytes: ...
    def finish(self) -> None: ...


class Identity:
    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> None:
        self._pending += data

    def read(self, limit: int) -> bytes:
        out = bytes(self._pending[:limit])
        del self._pending[:limit]
        return out

    def finish(self) -> None:
        return None


class _Frames:
    """Concatenated frames/members of a bz2-style decompressor (``decompress(data, max_length)``,
    ``eof``, ``needs_input``, ``unused_data``): lz4, zstd, bzip2, xz."""

    def __init__(self, factory: Callable[[], Any], name: str, code: int, code_name: str) -> None:
        self._factory = factory
        self._name = name
        self._code = code
        self._code_name = code_name
        self._decoder = factory()
        self._pending = b""
        self._started = False  # bytes went into the current frame

    def feed(self, data: bytes) -> None:
        self._pending = self._pending + data if self._pending else bytes(data)

    def read(self, limit: int) -> bytes:
        while True:
            if self._decoder.needs_input:
                if not self._pending:
                    return b""
                data, self._pending = self._pending, b""
            else:
                data = b""
            self._started = self._started or bool(data)
            try:
                out = self._decoder.decompress(data, limit)
            except Exception as exc:
                raise self._error(str(exc)) from None
            if self._decoder.eof:
                self._pending = (self._decoder.unused_data or b"") + self._pending
                self._decoder = self._factory()
                self._started = False
            if out:
                return out

    def finish(self) -> None:
        if self._started or self._pending:
            raise self._error("the stream ended inside a frame (truncated body)")

    def _error(self, detail: str) -> ClickHouseError:
        return ClickHouseError(self._code, f"{self._name} decompression failed: {detail}. ({self._code_name})")


class _Zlib:
    """gzip (several members allowed) or deflate (zlib-wrapped)."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._decoder = zlib.decompressobj(wbits)
        self._input = b""
        self._started = False

    def feed(self, data: bytes) -> None:
        self._input = self._input + data if self._input else bytes(data)

    def read(self, limit: int) -> bytes:
        while self._input:
            data, self._input = self._input, b""
            self._started = True
            try:
                out = self._decoder.decompress(data, limit)
            except zlib.error as exc:
                raise ClickHouseError(ZLIB_INFLATE_FAILED, f"inflate failed: {exc}. (ZLIB_INFLATE_FAILED)") from None
            self._input = self._decoder.unconsumed_tail
            if self._decoder.eof:
                self._input = self._decoder.unused_data + self._input
                self._decoder = zlib.decompressobj(self._wbits)
                self._started = False
            if out:
                return out
        return b""

    def finish(self) -> None:
        if self._started:
            raise ClickHouseError(
                ZLIB_INFLATE_FAILED, "inflate failed: unexpected end of compressed data. (ZLIB_INFLATE_FAILED)"
            )


class _Brotli:
    def __init__(self) -> None:
        self._decoder = brotli.Decompressor()
        self._pending = b""
        self._started = False

    def feed(self, data: bytes) -> None:
        self._pending = self._pending + data if self._pending else bytes(data)

    def read(self, limit: int) -> bytes:
        while True:
            if self._decoder.can_accept_more_data():
                if not self._pending:
                    return b""
                data, self._pending = self._pending, b""
            else:
                data = b""
            self._started = True
            try:
                out = self._decoder.process(data, output_buffer_limit=limit)
            except brotli.error as exc:
                raise ClickHouseError(BROTLI_READ_FAILED, f"brotli decode error: {exc}. (BROTLI_READ_FAILED)") from None
            if out:
                return out
            if self._decoder.is_finished() and self._pending:
                raise ClickHouseError(
                    BROTLI_READ_FAILED, "brotli decode error: data after the end of the stream. (BROTLI_READ_FAILED)"
                )

    def finish(self) -> None:
        if self._started and not self._decoder.is_finished():
            raise ClickHouseError(
                BROTLI_READ_FAILED, "brotli decode error: the stream ended early (truncated body). (BROTLI_READ_FAILED)"
            )


SUPPORTED = "gzip, deflate, br, xz, zstd, lz4, bz2"


def request_decoder(content_encoding: str | None) -> StreamDecoder:
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity", "none"):
        return Identity()
    if encoding == "lz4":
        return _Frames(lz4.frame.LZ4FrameDecompressor, "LZ4", LZ4_DECODER_FAILED, "LZ4_DECODER_FAILED")
    if encoding == "zstd":
        return _Frames(_zstd.ZstdDecompressor, "Zstd", ZSTD_DECODER_FAILED, "ZSTD_DECODER_FAILED")
    if encoding in ("bz2", "bzip2"):
        return _Frames(bz2.BZ2Decompressor, "bzip2", CANNOT_DECOMPRESS, "CANNOT_DECOMPRESS")
    if encoding in ("xz", "lzma"):
        return _Frames(lzma.LZMADecompressor, "xz", CANNOT_DECOMPRESS, "CANNOT_DECOMPRESS")
    if encoding in ("gzip", "x-gzip"):
        return _Zlib(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Zlib(zlib.MAX_WBITS)
    if encoding in ("br", "brotli") and brotli is not None:
        return _Brotli()
    raise ClickHouseError(
        BAD_ARGUMENTS,
        f"Unknown compression method '{encoding}'. Supported as HTTP Content-Encoding: {SUPPORTED}. (BAD_ARGUMENTS)",
    )


RESPONSE_ENCODINGS = ("lz4", "zstd", "gzip", "deflate")


def pick_response_encoding(accept_encoding: str | None) -> str | None:
    offered = [part.split(";")[0].strip().lower() for part in (accept_encoding or "").split(",")]
    for encoding in offered:
        if encoding in RESPONSE_ENCODINGS:
            return encoding
    return None


class StreamCompressor:
    """A response body compressed piece by piece (a streamed result), one frame/stream in all."""

    def __init__(self, encoding: str) -> None:
        if encoding == "lz4":
            self._c: Any = lz4.frame.LZ4FrameCompressor()
            self._head = self._c.begin()
        elif encoding == "zstd":
            self._c = zstandard.ZstdCompressor(level=1).compressobj()
            self._head = b""
        elif encoding == "gzip":
            self._c = zlib.compressobj(3, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            self._head = b""
        elif encoding == "deflate":
            self._c = zlib.compressobj(3)
            self._head = b""
        else:
            raise ValueError(f"unsupported response encoding {encoding}")
        self._encoding = encoding

    def compress(self, data: bytes) -> bytes:
        head, self._head = self._head, b""
        out = self._c.compress(data)
        if self._encoding in ("gzip", "deflate"):
            out += self._c.flush(zlib.Z_SYNC_FLUSH)  # the client sees each piece as it is produced
        return head + out

    def finish(self) -> bytes:
        head, self._head = self._head, b""
        return head + self._c.flush()


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "lz4":
        return lz4.frame.compress(data)
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=1).compress(data)
    if encoding == "gzip":
        compressor = zlib.compressobj(3, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush()
    if encoding == "deflate":
        return zlib.compress(data, 3)
    raise ValueError(f"unsupported response encoding {encoding}")
