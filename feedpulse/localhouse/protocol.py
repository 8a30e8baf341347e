"""Pure parsing of ClickHouse HTTP requests: which URL parameters mean what, where the data starts.

Kept free of any server or engine so the rules can be unit-tested on their own.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from feedpulse.localhouse.errors import ClickHouseError

# URL parameters the HTTP handler itself understands (everything else is a setting).
HANDLER_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "user",
        "password",
        "quota_key",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "stacktrace",
        "role",
        "client_protocol_version",
        "close_session",
        "http_native_compression_disable_checksumming_on_decompress",
    }
)
# Settings that only steer the HTTP transport: accepted, with no effect on the query.
TRANSPORT_SETTINGS = frozenset(
    {"enable_http_compression", "send_progress_in_http_headers", "http_headers_progress_interval_ms"}
)

# Patterns over bytes: a body may hold the INSERT statement followed by binary (e.g. Native) rows.
_INSERT_FORMAT_RE = re.compile(
    rb"^\s*(?P<head>INSERT\s+INTO\s+(?:(?!\bSELECT\b|\bWITH\b).)+?)"
    rb"\s+FORMAT\s+(?P<fmt>[A-Za-z0-9_]+)(?P<sep>[ \t]*\r?\n|\s|$)",
    re.IGNORECASE | re.DOTALL,
)
_INSERT_VALUES_RE = re.compile(
    rb"^\s*(?P<head>INSERT\s+INTO\s+(?:(?!\bSELECT\b|\bWITH\b).)+?)\s+VALUES\s*$", re.IGNORECASE | re.DOTALL
)
_INSERT_START_RE = re.compile(rb"^\s*INSERT\s", re.IGNORECASE)
_OUTPUT_FORMAT_RE = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.IGNORECASE)
_LEADING_COMMENTS_RE = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/)*", re.DOTALL)
_LEADING_COMMENTS_BYTES_RE = re.compile(rb"^(?:\s+|--[^\n]*\n?|/\*.*?\*/)*", re.DOTALL)


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


@dataclass
class RequestParams:
    """The URL parameters of one request, sorted by meaning."""

    query: str = ""
    database: str | None = None
    default_format: str | None = None
    query_id: str | None = None
    session_id: str | None = None
    session_timeout: float | None = None
    session_check: bool = False
    http_compression: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    wait_end_of_query: bool = False
    raw: dict[str, str] = field(default_factory=dict)
    forced_readonly: bool = False  # GET without a session: readonly = 2 before the URL's settings
    query_parameters: dict[str, str] = field(default_factory=dict)


EXTERNAL_SUFFIXES = ("_structure", "_types", "_format")


def parse_params(params: Mapping[str, str], known_settings: frozenset[str], external: bool = False) -> RequestParams:
    """Sort URL parameters; anything that is neither the handler's own nor a setting is an error.

    ClickHouse treats every other URL parameter as a setting and answers an unknown one with
    Code 115 UNKNOWN_SETTING, so a typo in a setting name fails here as it would in production.
    """
    out = RequestParams(raw=dict(params))
    for name, value in params.items():
        if external and name.endswith(EXTERNAL_SUFFIXES):
            continue  # describes an external table (ClickHouse skips these names as settings too)
        if name.startswith("param_"):
            out.query_parameters[name[len("param_") :]] = value
        elif name == "query":
            out.query = value
        elif name == "database":
            out.database = value or None
        elif name == "default_format":
            out.default_format = value or None
        elif name == "query_id":
            out.query_id = value or None
        elif name == "session_id":
            out.session_id = value or None
        elif name == "session_timeout":
            out.session_timeout = _session_timeout(value)
        elif name == "session_check":
            out.session_check = value in ("1", "true")
        elif name == "wait_end_of_query":
            out.wait_end_of_query = value in ("1", "true")
        elif name == "enable_http_compression":
            out.http_compression = value in ("1", "true")
        elif name in HANDLER_PARAMS or name in TRANSPORT_SETTINGS or not name:
            continue
        elif name in known_settings:
            out.settings[name] = value
        else:
            raise ClickHouseError(115, f"Unknown setting '{name}'. (UNKNOWN_SETTING)")
    return out


def _session_timeout(value: str) -> float:
    try:
        timeout = float(value)
    except ValueError:
        raise ClickHouseError(36, f"Invalid session timeout: '{value}'. (BAD_ARGUMENTS)") from None
    if not 0 < timeout <= 3600:
        raise ClickHouseError(36, f"Session timeout '{value}' is out of range (0, 3600]. (BAD_ARGUMENTS)")
    return timeout


def credentials(headers: Mapping[str, str], params: Mapping[str, str]) -> Credentials:
    """User and password from basic auth, X-ClickHouse-User/Key headers, or user/password params."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ClickHouseError(516, "Malformed basic authentication header. (AUTHENTICATION_FAILED)") from None
        return Credentials(user or "default", password)
    if "x-clickhouse-user" in headers or "x-clickhouse-key" in headers:
        return Credentials(headers.get("x-clickhouse-user") or "default", headers.get("x-clickhouse-key", ""))
    return Credentials(params.get("user") or "default", params.get("password", ""))


@dataclass(frozen=True)
class DataInsert:
    """An INSERT whose rows follow in a given input format (the request body, maybe a prefix too)."""

    sql: str
    fmt: str
    inline: bytes = b""
    complete: bool = True  # False: the format name may go on in bytes not seen yet


def data_insert(query: bytes) -> DataInsert | None:
    """``INSERT INTO t [(cols)] [SETTINGS …] FORMAT F`` + data, or ``… VALUES`` with data to follow.

    The data starts right after the whitespace (one line end at most) that ends the format name,
    as in ClickHouse; whatever follows in ``query`` is returned as ``inline`` bytes.
    """
    text = strip_leading_comments_bytes(query)
    match = _INSERT_FORMAT_RE.match(text)
    if match:
        return DataInsert(
            match.group("head").decode(),
            match.group("fmt").decode(),
            text[match.end() :],
            complete=bool(match.group("sep")),
        )
    match = _INSERT_VALUES_RE.match(text)
    if match:
        return DataInsert(match.group("head").decode(), "Values")
    return None


def may_be_data_insert(prefix: bytes) -> bool:
    """Whether a body that starts with ``prefix`` could be an INSERT carrying its rows."""
    return bool(_INSERT_START_RE.match(strip_leading_comments_bytes(prefix)))


def output_format(query: str, default_format: str | None) -> str:
    match = _OUTPUT_FORMAT_RE.search(query)
    if match:
        return match.group(1)
    return default_format or "TabSeparated"


def strip_leading_comments(query: str) -> str:
    return query[_LEADING_COMMENTS_RE.match(query).end() :]


def strip_leading_comments_bytes(query: bytes) -> bytes:
    return query[_LEADING_COMMENTS_BYTES_RE.match(query).end() :]


def statement_keyword(query: str) -> str:
    words = strip_leading_comments(query).split(None, 1)
    return words[0].upper() if words else ""


# Output formats whose output is a plain sequence of blocks (no header, prefix or suffix), so a
# result can be sent block by block as the engine produces it; other formats are sent whole.
STREAMABLE_FORMATS = frozenset(
    name.lower()
    for name in [
        "Native",
        "TabSeparated",
        "TSV",
        "TabSeparatedRaw",
        "TSVRaw",
        "Raw",
        "CSV",
        "RowBinary",
        "JSONEachRow",
        "JSONLines",
        "NDJSON",
        "JSONCompactEachRow",
        "JSONStringsEachRow",
        "JSONCompactStringsEachRow",
        "Values",
        "LineAsString",
        "RawBLOB",
    ]
)
# Statements that answer with rows (and so an X-ClickHouse-Format header); the rest answer a summary.
RESULT_KEYWORDS = frozenset({"SELECT", "WITH", "(", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK"})


def content_type(fmt: str) -> str:
    name = fmt.lower()
    if name.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if name.startswith("csv"):
        return "text/csv; charset=UTF-8; header=absent"
    if name.startswith("json") or name.startswith("ndjson"):
        return "application/json; charset=UTF-8"
    if name in {"native", "rowbinary", "rowbinarywithnamesandtypes", "parquet", "arrow", "arrowstream", "orc"}:
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"
