"""Unit tests for the pure request-parsing and compression rules of the local endpoint."""

from __future__ import annotations

import base64
import gzip

import lz4.frame
import pytest

from feedpulse.config import ClickHouseSettings
from feedpulse.localhouse.compression import compress, pick_response_encoding, request_decoder
from feedpulse.localhouse.errors import ClickHouseError
from feedpulse.localhouse.protocol import credentials, data_insert, output_format, parse_params, statement_keyword

KNOWN = frozenset({"max_threads", "readonly", "max_block_size"})


def test_insert_with_format_splits_statement_from_binary_rows():
    body = b"INSERT INTO db.t (a, b) FORMAT Native\n\x02\x00\xff\nFORMAT x"
    insert = data_insert(body)
    assert insert is not None
    assert insert.sql == "INSERT INTO db.t (a, b)"
    assert insert.fmt == "Native"
    assert insert.inline == b"\x02\x00\xff\nFORMAT x"
    assert insert.complete


def test_insert_with_settings_and_comments():
    insert = data_insert(b"-- load\n/* x */ INSERT INTO t SETTINGS async_insert=0 FORMAT CSV 1,2\n")
    assert insert.sql == "INSERT INTO t SETTINGS async_insert=0"
    assert (insert.fmt, insert.inline) == ("CSV", b"1,2\n")


def test_format_name_cut_at_end_is_incomplete():
    insert = data_insert(b"INSERT INTO t FORMAT Nat")
    assert insert is not None and not insert.complete


@pytest.mark.parametrize(
    "query",
    [
        b"INSERT INTO t SELECT number FROM numbers(3)",
        b"INSERT INTO t VALUES (1), (2)",
        b"SELECT 1 FORMAT JSON",
        b"WITH 1 AS x INSERT INTO t SELECT x",
    ],
)
def test_queries_that_carry_no_rows(query):
    assert data_insert(query) is None


def test_values_head_streams_body_as_values():
    insert = data_insert(b"INSERT INTO t (x) VALUES")
    assert (insert.sql, insert.fmt) == ("INSERT INTO t (x)", "Values")


def test_params_sorted_by_meaning():
    params = parse_params(
        {
            "query": "SELECT 1",
            "database": "db",
            "session_id": "s",
            "session_timeout": "30",
            "param_x": "5",
            "max_threads": "2",
            "wait_end_of_query": "1",
            "enable_http_compression": "1",
            "": "",
        },
        KNOWN,
    )
    assert params.database == "db" and params.session_id == "s" and params.session_timeout == 30
    assert params.settings == {"max_threads": "2"}
    assert params.query_parameters == {"x": "5"}
    assert params.http_compression


def test_unknown_setting_is_clickhouse_code_115():
    with pytest.raises(ClickHouseError, match="Unknown setting 'client_only_thing'") as caught:
        parse_params({"query": "SELECT 1", "client_only_thing": "9"}, KNOWN)
    assert (caught.value.code, caught.value.http_status) == (115, 404)


def test_bad_session_timeout_names_the_problem():
    with pytest.raises(ClickHouseError, match="session timeout"):
        parse_params({"session_timeout": "soon"}, KNOWN)


def test_credentials_sources():
    basic = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert credentials({"authorization": basic}, {}).password == "s3cret"
    assert credentials({"x-clickhouse-user": "bob", "x-clickhouse-key": "k"}, {}).user == "bob"
    assert credentials({}, {"user": "carol", "password": "p"}).password == "p"
    assert credentials({}, {}).user == "default"


def test_output_format_and_keyword():
    assert output_format("SELECT 1 FORMAT JSONEachRow;", None) == "JSONEachRow"
    assert output_format("SELECT 1", "CSV") == "CSV"
    assert output_format("SELECT 1", None) == "TabSeparated"
    assert statement_keyword("  -- c\n use db") == "USE"


def decode_all(encoding: str, chunks: list[bytes], piece: int = 1 << 20) -> bytes:
    decoder = request_decoder(encoding)
    out = bytearray()
    for chunk in chunks:
        decoder.feed(chunk)
        while data := decoder.read(piece):
            assert len(data) <= piece
            out += data
    decoder.finish()
    return bytes(out)


def test_lz4_sequence_of_frames_decoded_whole_even_when_split_anywhere():
    payload = [f"block {i}\n".encode() * 100 for i in range(5)]
    stream = b"".join(lz4.frame.compress(p) for p in payload)
    assert decode_all("lz4", [stream[i : i + 37] for i in range(0, len(stream), 37)]) == b"".join(payload)


def test_truncated_lz4_body_is_an_error():
    stream = lz4.frame.compress(b"x" * 10000)
    decoder = request_decoder("lz4")
    decoder.feed(stream[:-5])
    with pytest.raises(ClickHouseError, match="truncated"):
        decoder.finish()


def test_multi_member_gzip_and_unknown_encoding():
    assert decode_all("gzip", [gzip.compress(b"a") + gzip.compress(b"b")]) == b"ab"
    with pytest.raises(ClickHouseError, match="Unknown compression method 'snappy'"):
        request_decoder("snappy")


def test_response_encoding_negotiation():
    assert pick_response_encoding("br, gzip;q=0.8") == "gzip"
    assert pick_response_encoding("br") is None
    assert gzip.decompress(compress(b"data", "gzip")) == b"data"


def test_settings_from_env():
    local = ClickHouseSettings.from_env({})
    assert local.is_local and local.port == 8123
    remote = ClickHouseSettings.from_env(
        {"CLICKHOUSE_HOST": "ch.example", "CLICKHOUSE_SECURE": "true", "CLICKHOUSE_PASSWORD": "pw"}
    )
    assert not remote.is_local and remote.port == 8443 and remote.url == "https://ch.example:8443"
    assert "pw" not in repr(remote)
    with pytest.raises(ValueError, match="CLICKHOUSE_PORT"):
        ClickHouseSettings.from_env({"CLICKHOUSE_PORT": "eighty"})


@pytest.mark.parametrize(
    ("sql", "keyword", "extra"),
    [
        ("SELECT 1", "SELECT", None),
        ('/* dbt {"a": 1} */ -- c\n# note\n  insert into t values (1)', "INSERT", None),
        ("/* /* */ SELECT */ DROP TABLE t", "DROP", None),
        ("SELECT ';' ; DROP TABLE t", "SELECT", 11),
        ('SELECT `x;y`, "a;b", $$c;d$$, $t$e;f$t$ FROM t', "SELECT", None),
        ("SELECT 'it''s;' -- ; here\n", "SELECT", None),
        ("SELECT 'esc\\';' ;; -- only comments after\n/* ; */", "SELECT", None),
        ("SELECT 1; /* unterminated ; SELECT 2", "SELECT", None),
        ("SELECT 'unterminated ; DROP", "SELECT", None),
    ],
)
def test_statement_boundaries_follow_clickhouse_lexer(sql, keyword, extra):
    from feedpulse.localhouse.sqllex import statement

    stmt = statement(sql)
    assert stmt.keyword == keyword
    assert stmt.extra_at == extra


def test_readonly_statement_check_for_sessions():
    from feedpulse.localhouse.sqllex import check_readonly, statement

    for sql in ("SELECT 1", "WITH x AS (SELECT 1) SELECT * FROM x", "SHOW TABLES", "SET max_threads = 1", "USE db"):
        check_readonly(statement(sql), 2)
    for sql in ("INSERT INTO t VALUES (1)", "DROP TABLE t", "/* /* */ SELECT */ DROP TABLE t", "SYSTEM FLUSH LOGS"):
        with pytest.raises(ClickHouseError, match="readonly mode"):
            check_readonly(statement(sql), 2)
    with pytest.raises(ClickHouseError, match="Cannot modify 'readonly'"):
        check_readonly(statement("SET max_threads = 1, readonly = 0"), 2)
    with pytest.raises(ClickHouseError, match="readonly mode"):
        check_readonly(statement("SET max_threads = 1"), 1)
