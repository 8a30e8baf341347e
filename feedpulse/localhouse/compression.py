"""HTTP body (de)compression for the encodings ClickHouse clients use.

clickhouse-connect sends inserts as a chunked body with ``Content-Encoding: lz4`` holding a
*sequence* of lz4 frames (one per block); decoding only the first frame would silently drop
rows, so every decoder here restarts on the unused tail until the stream ends. Decoders are
incremental: a body is never held whole in memory.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import lz4.frame
import zstandard

from feedpulse.localhouse.errors import ClickHouseError


class StreamDecoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _Identity:
    def feed(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class _Lz4Frames:
    """Any number of concatenated lz4 frames."""

    def __init__(self) -> None:
        self._decoder = lz4.frame.LZ4FrameDecompressor()
        self._in_frame = False

    def feed(self, data: bytes) -> bytes:
        out = []
        while data:
            self._in_frame = True
            out.append(self._decoder.decompress(data))
            if not self._decoder.eof:
                break
            data = self._decoder.unused_data
            self._decoder = lz4.frame.LZ4FrameDecompressor()
            self._in_frame = False
        return b"".join(out)

    def finish(self) -> bytes:
        if self._in_frame:
            raise ClickHouseError(432, "Cannot decompress lz4 request body: truncated frame. (CANNOT_DECOMPRESS)")
        return b""


class _Zstd:
    def __init__(self) -> None:
        self._decoder = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)

    def feed(self, data: bytes) -> bytes:
        return self._decoder.decompress(data)

    def finish(self) -> bytes:
        return b""


class _Zlib:
    """gzip (several members allowed) or deflate (zlib-wrapped or raw)."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._decoder = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._decoder.decompress(data))
            if not self._decoder.eof:
                break
            data = self._decoder.unused_data
            self._decoder = zlib.decompressobj(self._wbits)
        return b"".join(out)

    def finish(self) -> bytes:
        return self._decoder.flush()


def request_decoder(content_encoding: str | None) -> StreamDecoder:
    encoding = (content_encoding or "").strip().lower()
    try:
        if encoding in ("", "identity"):
            return _Identity()
        if encoding == "lz4":
            return _Lz4Frames()
        if encoding == "zstd":
            return _Zstd()
        if encoding in ("gzip", "x-gzip"):
            return _Zlib(16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            return _Zlib(zlib.MAX_WBITS)
    except Exception as exc:  # pragma: no cover - library construction failures
        raise ClickHouseError(432, f"Cannot set up {encoding} decompression: {exc}") from None
    raise ClickHouseError(
        1, f"Unknown Content-Encoding of HTTP request: {encoding}. Supported: gzip, deflate, zstd, lz4."
    )


RESPONSE_ENCODINGS = ("lz4", "zstd", "gzip", "deflate")


def pick_response_encoding(accept_encoding: str | None) -> str | None:
    offered = [part.split(";")[0].strip().lower() for part in (accept_encoding or "").split(",")]
    for encoding in offered:
        if encoding in RESPONSE_ENCODINGS:
            return encoding
    return None


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
