"""Contract suite: unmodified clickhouse-connect (and raw HTTP as ClickHouse clients send it)
against the local endpoint. Each test is something a client of a real server relies on."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading
import time
import uuid

import clickhouse_connect
import lz4.frame
import numpy as np
import pandas as pd
import pytest
import requests
import zstandard
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(ch_client) -> str:
    name = "contract"
    ch_client.command(f"DROP DATABASE IF EXISTS {name}")
    ch_client.command(f"CREATE DATABASE {name}")
    return name


@pytest.fixture
def url(localhouse) -> str:
    return localhouse.url


@pytest.fixture
def auth() -> tuple[str, str]:
    return ("default", TEST_PASSWORD)


def test_ping(url):
    response = requests.get(f"{url}/ping", timeout=5)
    assert response.status_code == 200
    assert response.text == "Ok.\n"


def test_server_identity(ch_client):
    assert int(ch_client.server_version.split(".")[0]) >= 24
    assert ch_client.command("SELECT 1") == 1


def test_command_query_and_query_df(ch_client, db):
    ch_client.command(f"CREATE TABLE {db}.t (id UInt32, name String, ts DateTime) ENGINE = MergeTree ORDER BY id")
    ch_client.command(f"INSERT INTO {db}.t VALUES (1, 'a', '2026-01-01 10:00:00'), (2, 'b', '2026-01-02 11:00:00')")
    result = ch_client.query(f"SELECT id, name FROM {db}.t ORDER BY id")
    assert result.result_rows == [(1, "a"), (2, "b")]
    assert result.column_names == ("id", "name")
    frame = ch_client.query_df(f"SELECT id, name, ts FROM {db}.t ORDER BY id")
    assert list(frame["name"]) == ["a", "b"]
    assert frame["ts"].iloc[1].hour == 11


def test_insert_100k_rows_native_lz4(ch_client, db):
    ch_client.command(
        f"CREATE TABLE {db}.big (id UInt64, label String, value Float64, day Date) ENGINE = MergeTree ORDER BY id"
    )
    n = 100_000
    rows = [(i, f"label-{i % 977}", i / 7, dt.date(2026, 1, 1) + dt.timedelta(days=i % 30)) for i in range(n)]
    summary = ch_client.insert(f"{db}.big", rows, column_names=["id", "label", "value", "day"])
    assert summary.written_rows == n
    count, total = ch_client.query(f"SELECT count(), sum(id) FROM {db}.big").result_rows[0]
    assert (count, total) == (n, n * (n - 1) // 2)


def test_insert_dataframe(ch_client, db):
    ch_client.command(f"CREATE TABLE {db}.frame (k UInt32, v Float64) ENGINE = MergeTree ORDER BY k")
    frame = pd.DataFrame({"k": np.arange(5000, dtype=np.uint32), "v": np.linspace(0, 1, 5000)})
    ch_client.insert_df(f"{db}.frame", frame)
    assert ch_client.command(f"SELECT count() FROM {db}.frame") == 5000


def test_session_temporary_table_is_private(localhouse):
    from feedpulse.clickhouse import get_client

    first, second = get_client(settings=localhouse), get_client(settings=localhouse)
    first.command("CREATE TEMPORARY TABLE scratch (x UInt8)")
    first.command("INSERT INTO scratch VALUES (1), (2), (3)")
    assert first.command("SELECT count() FROM scratch") == 3
    with pytest.raises(DatabaseError, match="scratch"):
        second.command("SELECT count() FROM scratch")


def test_settings_apply_per_query(ch_client):
    assert ch_client.command("SELECT getSetting('max_threads')", settings={"max_threads": 1}) == 1
    # URL settings do not leak into the session's later queries.
    assert ch_client.command("SELECT getSetting('max_threads')") != 1


def test_set_and_use_persist_in_session(localhouse, db):
    from feedpulse.clickhouse import get_client

    client = get_client(settings=localhouse)
    client.command("SET max_block_size = 1234")
    assert client.command("SELECT getSetting('max_block_size')") == 1234
    client.command(f"USE {db}")
    assert client.command("SELECT currentDatabase()") == db


def test_query_parameters(ch_client):
    rows = ch_client.query(
        "SELECT {n:UInt32} * 2 AS doubled, {s:String} AS s, {d:Date} AS d",
        parameters={"n": 21, "s": "it's", "d": dt.date(2026, 2, 3)},
    ).result_rows
    assert rows == [(42, "it's", dt.date(2026, 2, 3))]


def test_bad_sql_is_a_clickhouse_error(ch_client, url, auth):
    with pytest.raises(DatabaseError, match="Code: 62"):
        ch_client.query("SELEC 1")
    response = requests.post(url, data="SELECT * FROM no_such_table_anywhere", auth=auth, timeout=5)
    assert response.status_code == 404
    assert response.headers["X-ClickHouse-Exception-Code"] == "60"
    assert response.text.startswith("Code: 60. DB::Exception:")


def test_wrong_password_rejected(localhouse, url):
    with pytest.raises(DatabaseError, match="516"):
        clickhouse_connect.get_client(host=localhouse.host, port=localhouse.port, password="wrong")
    response = requests.post(url, data="SELECT 1", auth=("default", "wrong"), timeout=5)
    assert response.status_code == 403
    assert response.headers["X-ClickHouse-Exception-Code"] == "516"
    assert "wrong" not in response.text
    headers = {"X-ClickHouse-User": "default", "X-ClickHouse-Key": TEST_PASSWORD}
    assert requests.post(url, data="SELECT 1", headers=headers, timeout=5).text == "1\n"


def test_response_headers(url, auth):
    query_id = f"contract-{uuid.uuid4()}"
    response = requests.post(
        url,
        params={"query_id": query_id, "default_format": "JSONEachRow"},
        data="SELECT number FROM system.numbers LIMIT 10",
        auth=auth,
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["X-ClickHouse-Query-Id"] == query_id
    assert response.headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert response.headers["X-ClickHouse-Timezone"]
    summary = json.loads(response.headers["X-ClickHouse-Summary"])
    assert summary["read_rows"] == "10"
    assert [json.loads(line)["number"] for line in response.text.splitlines()] == list(range(10))


def test_insert_summary_counts_written_rows(url, auth, ch_client, db):
    ch_client.command(f"CREATE TABLE {db}.summary (x UInt32) ENGINE = MergeTree ORDER BY x")
    response = requests.post(
        url, params={"query": f"INSERT INTO {db}.summary FORMAT CSV"}, data="1\n2\n3\n", auth=auth, timeout=5
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.headers["X-ClickHouse-Summary"])["written_rows"] == "3"


def _chunked(parts: list[bytes]):
    yield from parts  # a generator body makes requests send Transfer-Encoding: chunked


def test_chunked_body_with_several_lz4_frames(url, auth, ch_client, db):
    """clickhouse-connect sends one lz4 frame per block; every frame must be read."""
    ch_client.command(f"CREATE TABLE {db}.frames (x UInt32) ENGINE = MergeTree ORDER BY x")
    blocks = ["".join(f"{i}\n" for i in range(start, start + 1000)).encode() for start in range(0, 5000, 1000)]
    body = [lz4.frame.compress(block) for block in blocks]
    response = requests.post(
        url,
        params={"query": f"INSERT INTO {db}.frames FORMAT TSV"},
        data=_chunked(body),
        headers={"Content-Encoding": "lz4"},
        auth=auth,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert ch_client.command(f"SELECT count() FROM {db}.frames") == 5000
    assert ch_client.command(f"SELECT sum(x) FROM {db}.frames") == sum(range(5000))


def test_statement_and_rows_in_one_compressed_body(url, auth, ch_client, db):
    ch_client.command(f"CREATE TABLE {db}.inline (x UInt32, s String) ENGINE = MergeTree ORDER BY x")
    payload = f"INSERT INTO {db}.inline (x, s) FORMAT CSV\n1,one\n2,two\n".encode()
    for encoding, body in [("gzip", gzip.compress(payload)), ("zstd", zstandard.ZstdCompressor().compress(payload))]:
        response = requests.post(url, data=body, headers={"Content-Encoding": encoding}, auth=auth, timeout=5)
        assert response.status_code == 200, (encoding, response.text)
    assert ch_client.command(f"SELECT count() FROM {db}.inline") == 4


def test_bad_rows_rejected_and_nothing_half_written(url, auth, ch_client, db):
    ch_client.command(f"CREATE TABLE {db}.strict (x UInt32) ENGINE = MergeTree ORDER BY x")
    response = requests.post(
        url, params={"query": f"INSERT INTO {db}.strict FORMAT CSV"}, data="1\nnot-a-number\n", auth=auth, timeout=5
    )
    assert response.status_code >= 400
    assert response.text.startswith("Code: ")
    assert ch_client.command(f"SELECT count() FROM {db}.strict") == 0


def test_compressed_response(url, auth):
    response = requests.post(
        url,
        params={"enable_http_compression": "1"},
        data="SELECT number FROM numbers(1000)",
        headers={"Accept-Encoding": "gzip"},
        auth=auth,
        timeout=5,
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.text.splitlines()[-1] == "999"  # requests decodes gzip transparently


def test_get_is_readonly(url, auth):
    response = requests.get(
        url, params={"query": "CREATE TABLE ro_attempt (x UInt8) ENGINE = Memory"}, auth=auth, timeout=5
    )
    # READONLY is not in ClickHouse's exception-code → HTTP status table: 500, as the server answers.
    assert response.status_code == 500
    assert response.headers["X-ClickHouse-Exception-Code"] == "164"


def test_unknown_settings_are_an_error_known_ones_apply(url, auth):
    response = requests.post(
        url,
        params={"some_client_only_option": "1", "max_threads": "1"},
        data="SELECT getSetting('max_threads')",
        auth=auth,
        timeout=5,
    )
    assert response.status_code == 404
    assert response.headers["X-ClickHouse-Exception-Code"] == "115"
    assert "Unknown setting 'some_client_only_option'" in response.text
    response = requests.post(
        url, params={"max_threads": "1"}, data="SELECT getSetting('max_threads')", auth=auth, timeout=5
    )
    assert response.status_code == 200
    assert response.text == "1\n"


def test_url_settings_and_database_stay_per_query_in_a_session(url, auth, db):
    """A session's own SET/USE state is what a query without URL settings sees, whatever earlier requests sent
    in their URLs (the endpoint restores it lazily: engine.Overlay)."""
    session = f"s-{uuid.uuid4()}"

    def run(sql: str, **params: str) -> str:
        response = requests.post(url, params={"session_id": session, **params}, data=sql, auth=auth, timeout=5)
        assert response.status_code == 200, response.text
        return response.text.strip()

    setting = "SELECT getSetting('max_block_size'), currentDatabase()"
    default = run(setting).split("\t")[0]
    assert run(setting, max_block_size="1111") == "1111\tdefault"
    assert run(setting, max_block_size="1111") == "1111\tdefault"  # the same URL again
    assert run(setting) == f"{default}\tdefault"
    run("SET max_block_size = 2222")
    run(f"USE {db}")
    assert run(setting, max_block_size="3333", database="system") == "3333\tsystem"
    assert run(setting) == f"2222\t{db}"  # the session's own values, not the URL's nor the defaults
    assert run(setting, max_block_size="3333") == f"3333\t{db}"
    run("SET max_block_size = 4444")  # a new own value while a URL's is applied …
    assert run(setting, max_block_size="3333") == f"3333\t{db}"
    assert run(setting) == f"4444\t{db}"  # … is what the session goes back to
    changed = "SELECT changed FROM system.settings WHERE name = 'max_threads'"
    assert run(changed, max_threads="3") == "1"
    assert run(changed) == "0"  # back to the default, not to an explicit copy of it
    missing = requests.post(
        url, params={"session_id": session, "database": "no_such_db"}, data=setting, auth=auth, timeout=5
    )
    assert missing.headers.get("X-ClickHouse-Exception-Code") == "81"
    assert run(setting) == f"4444\t{db}"


def test_a_failed_querys_rows_never_reach_the_sessions_next_query(url, auth):
    """chDB hands the rows a query produced before it failed to the connection's next query (engine.settle)."""
    session = {"session_id": f"s-{uuid.uuid4()}"}
    failing = "SELECT throwIf(number = 300000) AS x FROM numbers(1000000)"
    for params in ({**session, "wait_end_of_query": "1"}, session):
        failed = requests.post(url, params=params, data=failing, auth=auth, timeout=30)
        assert "Code: 395" in failed.text
        after = requests.post(url, params=session, data="SELECT 42", auth=auth, timeout=5)
        assert after.status_code == 200 and after.text == "42\n"


def test_session_check_and_lock(url, auth):
    session = f"s-{uuid.uuid4()}"
    missing = requests.post(
        url, params={"session_id": session, "session_check": "1"}, data="SELECT 1", auth=auth, timeout=5
    )
    assert missing.headers["X-ClickHouse-Exception-Code"] == "372"
    requests.post(
        url, params={"session_id": session}, data="CREATE TEMPORARY TABLE held (x UInt8)", auth=auth, timeout=5
    ).raise_for_status()
    slow = threading.Thread(
        target=requests.post,
        kwargs=dict(url=url, params={"session_id": session}, data="SELECT sleep(1)", auth=auth, timeout=10),
    )
    slow.start()
    time.sleep(0.3)
    locked = requests.post(url, params={"session_id": session}, data="SELECT 1", auth=auth, timeout=5)
    slow.join()
    assert locked.headers.get("X-ClickHouse-Exception-Code") == "373"


def test_sessions_expire(url, auth):
    session = f"s-{uuid.uuid4()}"
    requests.post(
        url,
        params={"session_id": session, "session_timeout": "1"},
        data="CREATE TEMPORARY TABLE fleeting (x UInt8)",
        auth=auth,
        timeout=5,
    ).raise_for_status()
    time.sleep(7)  # timeout 1 s, reaper runs every 5 s
    gone = requests.post(
        url, params={"session_id": session, "session_check": "1"}, data="SELECT 1", auth=auth, timeout=5
    )
    assert gone.headers.get("X-ClickHouse-Exception-Code") == "372"


def test_concurrent_clients_run_in_parallel(localhouse):
    from feedpulse.clickhouse import get_client

    clients = [get_client(settings=localhouse) for _ in range(4)]
    start = time.monotonic()
    threads = [threading.Thread(target=c.command, args=("SELECT sleep(1)",)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - start < 3.0  # four 1-second queries, not run one after another


def test_engine_totals_for_benchmarks(url, auth):
    before = requests.get(f"{url}/feedpulse/stats", auth=auth, timeout=5).json()
    requests.post(url, data="SELECT sum(number) FROM numbers(100000)", auth=auth, timeout=5).raise_for_status()
    after = requests.get(f"{url}/feedpulse/stats", auth=auth, timeout=5).json()
    assert after["queries"] > before["queries"]
    assert after["read_rows"] - before["read_rows"] >= 100000
    assert after["engine_seconds"] >= before["engine_seconds"]
    assert requests.get(f"{url}/feedpulse/stats", timeout=5).status_code == 403
