"""Results stream like ClickHouse's: rows leave as produced, memory stays bounded, a late error
arrives in-stream; statements without a result carry no X-ClickHouse-Format; binary query text."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.summary import QuerySummary

from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.integration
AUTH = ("default", TEST_PASSWORD)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_fifty_million_rows_native_stream_with_bounded_memory(localhouse):
    from feedpulse.localhouse import manager

    pid = manager.status().pid
    before = _rss(pid)
    peak = before
    received = 0
    started = time.perf_counter()
    first_byte = None
    with requests.post(
        localhouse.url,
        params={"default_format": "Native"},
        data="SELECT number FROM numbers(50000000)",
        auth=AUTH,
        stream=True,
        timeout=300,
    ) as response:
        assert response.status_code == 200
        assert response.headers["X-ClickHouse-Format"] == "Native"
        for i, chunk in enumerate(response.iter_content(1 << 20)):
            if first_byte is None:
                first_byte = time.perf_counter() - started
            received += len(chunk)
            if i % 16 == 0:
                peak = max(peak, _rss(pid))
    total = time.perf_counter() - started
    assert received > 50_000_000 * 8  # 8 bytes a row plus the blocks' headers
    assert peak - before < 256 << 20, f"endpoint grew by {(peak - before) >> 20} MiB"
    assert first_byte < total / 4, (first_byte, total)  # rows left before the query ended


def test_error_after_rows_arrives_in_stream_like_clickhouse(localhouse, ch_client):
    sql = "SELECT throwIf(number = 3000000) AS x FROM numbers(10000000)"
    with requests.post(localhouse.url, data=sql, auth=AUTH, stream=True, timeout=120) as response:
        assert response.status_code == 200  # headers left with the first rows, before the error
        tag = response.headers["X-ClickHouse-Exception-Tag"]
        body = response.content
    assert body.startswith(b"0\n0\n")
    tail = body[-600:]
    assert f"__exception__\r\n{tag}\r\nCode: 395.".encode() in tail
    assert tail.endswith(f" {tag}\r\n__exception__\r\n".encode())
    with pytest.raises(DatabaseError, match="395"):
        ch_client.query(sql)


def test_error_after_a_few_small_blocks_is_a_stream_failure(ch_client):
    from clickhouse_connect.driver.exceptions import StreamFailureError

    sql = "SELECT sleepEachRow(0.001), throwIf(number = 100) FROM numbers(200)"
    with pytest.raises(StreamFailureError, match="throwIf"):
        rows = ch_client.query(sql, settings={"max_block_size": 1, "wait_end_of_query": 0}).result_set
        assert len(rows) < 200
    assert ch_client.command("SELECT 1") == 1


def test_error_before_any_row_keeps_its_http_status(localhouse):
    response = requests.post(localhouse.url, data="SELECT * FROM no_such_table_here", auth=AUTH, timeout=30)
    assert response.status_code == 404
    assert response.headers["X-ClickHouse-Exception-Code"] == "60"


def test_small_results_and_formats_with_headers_are_whole(localhouse):
    response = requests.post(
        localhouse.url, data="SELECT number FROM numbers(200000) FORMAT TSVWithNames", auth=AUTH, timeout=60
    )
    lines = response.text.splitlines()
    assert lines[0] == "number" and lines.count("number") == 1 and len(lines) == 200_001
    json_doc = requests.post(
        localhouse.url, data="SELECT number FROM numbers(200000) FORMAT JSON", auth=AUTH, timeout=60
    ).json()
    assert json_doc["rows"] == 200_000


def test_streamed_result_compressed(localhouse):
    response = requests.post(
        localhouse.url,
        params={"enable_http_compression": "1"},
        data="SELECT number FROM numbers(3000000)",
        headers={"Accept-Encoding": "gzip"},
        auth=AUTH,
        timeout=120,
    )
    assert response.headers["Content-Encoding"] == "gzip"
    lines = response.text.splitlines()
    assert len(lines) == 3_000_000 and lines[-1] == "2999999"


def test_statements_without_result_have_no_format_header(localhouse, ch_client):
    url = localhouse.url
    create = requests.post(url, data="CREATE TABLE IF NOT EXISTS fmt_probe (x UInt8) ENGINE = Memory", auth=AUTH)
    assert create.status_code == 200 and "X-ClickHouse-Format" not in create.headers
    insert = requests.post(url, params={"query": "INSERT INTO fmt_probe FORMAT TSV"}, data="1\n", auth=AUTH)
    assert insert.status_code == 200 and "X-ClickHouse-Format" not in insert.headers
    select = requests.post(url, data="SELECT count() FROM fmt_probe", auth=AUTH)
    assert select.headers["X-ClickHouse-Format"] == "TabSeparated"
    assert isinstance(ch_client.command("DROP TABLE fmt_probe"), QuerySummary)


def test_binary_query_body_reaches_the_engine_unchanged(localhouse):
    response = requests.post(localhouse.url, data=b"SELECT hex('\xff\x00\x80')", auth=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    assert response.text == "FF0080\n"


def test_external_tables_in_multipart_bodies(ch_client):
    from clickhouse_connect.driver.external import ExternalData

    data = ExternalData(
        file_name="people.csv", data=b"1,ann\n2,bob\n", fmt="CSV", structure=["id UInt32", "name String"]
    )
    data.add_file(file_name="ages", data=b"1\t30\n2\t40\n", types=["UInt32", "UInt8"])
    result = ch_client.query(
        "SELECT p.name, a._2 FROM people AS p JOIN ages AS a ON p.id = a._1 ORDER BY p.id", external_data=data
    )
    assert result.result_rows == [("ann", 30), ("bob", 40)]
    # nothing is left behind: the tables lived for that one query
    with pytest.raises(DatabaseError, match="60"):
        ch_client.query("SELECT * FROM people")


def test_query_and_parameters_as_form_fields(localhouse, ch_client):
    big = "x" * 10_000  # bind parameters this long go in form fields, not the URL
    assert ch_client.query("SELECT length({s:String})", parameters={"s": big}).result_rows == [(10_000,)]
    files = {"t": ("t.tsv", b"5\n6\n", "application/octet-stream")}
    response = requests.post(
        localhouse.url,
        params={"t_structure": "v UInt8"},
        data={"query": "SELECT sum(v) * {k:UInt8} FROM t", "param_k": "2"},
        files=files,
        auth=AUTH,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.text == "22\n"
    missing = requests.post(localhouse.url, data={"query": "SELECT 1 FROM u"}, files={"u": ("u", b"1\n")}, auth=AUTH)
    assert missing.status_code == 400 and "u_structure or u_types" in missing.text
