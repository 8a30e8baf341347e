"""``feedpulse doctor``: each check with fakes, then against the local endpoint and the Bot API double."""

# ruff: noqa: F811
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from feedpulse import doctor
from feedpulse.config import ClickHouseSettings
from feedpulse.doctor import FAIL, PASS, SKIP, WARN, CheckResult
from feedpulse.telegram import TelegramError, TelegramNetworkError
from tests.conftest import TEST_PASSWORD, free_port
from tests.telegram_double import TOKEN, telegram_double  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SOURCE_SQL = ROOT / "deploy" / "clickhouse" / "source_tables.sql"
WRONG_PASSWORD = "wrong-pw-4f9c1e"


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(doctor.doctor_command)
    return app


# --- fakes ---------------------------------------------------------------------------------------


class FakeClient:
    """Answers queries by the first matching regex; commands may raise per regex."""

    def __init__(self, answers: dict[str, Any] | None = None, failing: dict[str, Exception] | None = None) -> None:
        self.answers = answers or {}
        self.failing = failing or {}
        self.commands: list[str] = []
        self.closed = False

    def _fail(self, sql: str) -> None:
        for pattern, error in self.failing.items():
            if re.search(pattern, sql):
                raise error

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> SimpleNamespace:
        self._fail(sql)
        for pattern, rows in self.answers.items():
            if re.search(pattern, sql):
                return SimpleNamespace(result_rows=rows(parameters) if callable(rows) else rows)
        return SimpleNamespace(result_rows=[])

    def command(self, sql: str) -> None:
        self._fail(sql)
        self.commands.append(sql)

    def close(self) -> None:
        self.closed = True


def source_rows(
    drop: tuple[str, ...] = (), retype: dict[str, str] | None = None, extra: tuple[tuple[str, str, str], ...] = ()
) -> list[tuple[str, str, str]]:
    """system.columns rows of well-formed source tables, minus ``drop`` ("table.column")."""
    types = {"integer": "UInt32", "string": "LowCardinality(String)", "datetime": "DateTime('Europe/Moscow')"}
    rows = [
        (table, name, (retype or {}).get(f"{table}.{name}", types[family]))
        for table, columns in doctor.SOURCE_COLUMNS.items()
        for name, family in columns.items()
        if f"{table}.{name}" not in drop
    ]
    return rows + list(extra)


ACCESS_DENIED = RuntimeError(
    "Code: 497. DB::Exception: feedpulse: Not enough privileges. (ACCESS_DENIED) (version 24.8.1.1)"
)
LOCAL = ClickHouseSettings(port=18123, password=TEST_PASSWORD)
REMOTE = ClickHouseSettings(
    host="ch.example.internal", port=8443, user="feedpulse", password="hunter2-secret", secure=True, is_local=False
)


# --- helpers -------------------------------------------------------------------------------------


def test_version_tuple_and_type_family() -> None:
    assert doctor.version_tuple("26.9.2.1") == (26, 9, 2, 1)
    assert doctor.version_tuple("24.3.18.7-lts") == (24, 3, 18, 7)
    assert doctor.version_tuple("23.8") < doctor.version_tuple(doctor.OLDEST_TESTED)
    assert doctor.type_family("Nullable(UInt64)") == "integer"
    assert doctor.type_family("LowCardinality(Nullable(String))") == "string"
    assert doctor.type_family("Enum8('view' = 1, 'like' = 2)") == "string"
    assert doctor.type_family("DateTime64(3, 'UTC')") == "datetime"
    assert doctor.type_family("Float64") == "Float64"


def test_scrub_replaces_longest_secret_first() -> None:
    assert doctor.scrub("pw abc and abcdef", ["abc", "abcdef", None, ""]) == "pw *** and ***"


# --- 1. configuration ----------------------------------------------------------------------------


def test_local_differences_only_on_the_local_endpoint() -> None:
    assert doctor.check_local_differences("clickhouse-prod-1") is None
    assert doctor.check_local_differences(None) is None
    result = doctor.check_local_differences("feedpulse-localhouse")
    assert result is not None and result.status == WARN and "native TCP" in result.detail


def test_configuration_local_and_remote() -> None:
    local = doctor.check_configuration({"CLICKHOUSE_PORT": "18123", "CLICKHOUSE_PASSWORD": "x"})
    assert local.status == PASS and "local endpoint http://127.0.0.1:18123" in local.detail
    remote = doctor.check_configuration({"CLICKHOUSE_HOST": "ch.example.internal", "CLICKHOUSE_SECURE": "true"})
    assert remote.status == PASS and "https://ch.example.internal:8443" in remote.detail
    plain = doctor.check_configuration({"CLICKHOUSE_HOST": "ch.example.internal"})
    assert plain.status == WARN and "CLICKHOUSE_SECURE" in plain.detail


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CLICKHOUSE_PORT": "http"}, "CLICKHOUSE_PORT"),
        ({"CLICKHOUSE_PORT": "70000"}, "CLICKHOUSE_PORT"),
        ({"FEEDPULSE_SOURCE_DATABASE": "app; DROP"}, "FEEDPULSE_SOURCE_DATABASE"),
    ],
)
def test_configuration_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    result = doctor.check_configuration(env)
    assert result.status == FAIL and variable in result.detail


def test_bad_configuration_skips_the_server_checks() -> None:
    results = doctor.clickhouse_checks({"CLICKHOUSE_PORT": "http"})
    assert [r.status for r in results] == [FAIL, SKIP, SKIP, SKIP, SKIP]


# --- 2. connection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            "Error HTTPConnectionPool(host='ch', port=8443): Max retries exceeded (Caused by NewConnectionError("
            "'Failed to establish a new connection: [Errno 111] Connection refused'))",
            "cannot connect to ch.example.internal:8443: connection refused — is the server running? "
            "check CLICKHOUSE_HOST/PORT/SECURE",
        ),
        (
            "Received ClickHouse exception, code: 516, server response: Code: 516. DB::Exception: feedpulse: "
            "Authentication failed: password is incorrect (AUTHENTICATION_FAILED)",
            "authentication failed for user feedpulse (code 516): check CLICKHOUSE_USER/CLICKHOUSE_PASSWORD",
        ),
        ("HTTPSConnectionPool(host='ch', port=8443): Read timed out. (read timeout=5)", "no answer within 5 s"),
        ("Failed to resolve 'ch.example.internal' ([Errno -2] Name or service not known)", "cannot resolve host"),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number", "TLS error"),
    ],
)
def test_connection_errors_are_explained(error: str, expected: str) -> None:
    message = doctor.describe_connection_error(RuntimeError(error), REMOTE, 5)
    assert expected in message


def test_connection_error_never_shows_the_password() -> None:
    error = RuntimeError(f"strange failure for http://feedpulse:{REMOTE.password}@ch.example.internal:8443")
    message = doctor.describe_connection_error(error, REMOTE, 5)
    assert REMOTE.password not in message and "***" in message


def test_check_connection_with_fakes() -> None:
    def refuse(settings: ClickHouseSettings, timeout: float) -> Any:
        raise RuntimeError("[Errno 111] Connection refused")

    result, client = doctor.check_connection(REMOTE, 2, connect=refuse)
    assert result.status == FAIL and client is None and "connection refused" in result.detail
    fake = FakeClient()
    result, client = doctor.check_connection(REMOTE, 2, connect=lambda settings, timeout: fake)
    assert result.status == PASS and client is fake


def test_local_endpoint_not_running_is_not_started_without_the_flag() -> None:
    started: list[ClickHouseSettings] = []
    result = doctor.check_local_endpoint(LOCAL, False, ping=lambda *_: False, start=started.append)
    assert result is not None and result.status == FAIL
    assert "feedpulse localhouse start" in result.detail and "--start-local" in result.detail
    assert started == []
    assert doctor.check_local_endpoint(LOCAL, True, ping=lambda *_: False, start=started.append) is None
    assert started == [LOCAL]
    assert doctor.check_local_endpoint(LOCAL, False, ping=lambda *_: True, start=started.append) is None


def test_local_endpoint_start_failure_is_reported() -> None:
    def broken(settings: ClickHouseSettings) -> None:
        raise RuntimeError("something else already answers on http://127.0.0.1:18123/ping")

    result = doctor.check_local_endpoint(LOCAL, True, ping=lambda *_: False, start=broken)
    assert result is not None and result.status == FAIL and "could not start" in result.detail


# --- 3. version ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "status"), [("26.9.2.1", PASS), ("24.3.1.2672", PASS), ("23.8.9.54", WARN)])
def test_server_version(version: str, status: str) -> None:
    result = doctor.check_server_version(FakeClient({r"version\(\)": [(version,)]}))
    assert result.status == status and version in result.detail
    if status == WARN:
        assert doctor.OLDEST_TESTED in result.detail and doctor.TESTED_ON in result.detail


# --- 4. permissions ------------------------------------------------------------------------------


def test_permissions_create_and_drop_scratch_tables() -> None:
    client = FakeClient({"system.databases": [("analytics",), ("test",)]})
    result = doctor.check_permissions(client)
    assert result.status == PASS
    assert sum(sql.startswith("CREATE TABLE") for sql in client.commands) == 2
    assert sum(sql.startswith("DROP TABLE") for sql in client.commands) == 2


def test_permissions_missing_grant_names_the_database() -> None:
    client = FakeClient(
        {"system.databases": [("analytics",), ("test",)]}, failing={r"CREATE TABLE `test`": ACCESS_DENIED}
    )
    result = doctor.check_permissions(client)
    assert result.status == FAIL and "cannot CREATE TABLE in test" in result.detail and "analytics" not in result.detail


def test_permissions_for_missing_databases() -> None:
    granted = FakeClient({"system.databases": [("test",)], "CHECK GRANT": [(1,)]})
    assert doctor.check_permissions(granted).status == PASS
    denied = FakeClient({"system.databases": [("test",)], "CHECK GRANT": [(0,)]})
    result = doctor.check_permissions(denied)
    assert result.status == FAIL and "analytics does not exist" in result.detail
    old_server = FakeClient(
        {"system.databases": [("test",)]}, failing={"CHECK GRANT": RuntimeError("Code: 62. Syntax error")}
    )
    assert doctor.check_permissions(old_server).status == WARN


# --- 5. source tables ----------------------------------------------------------------------------


def columns_client(rows: list[tuple[str, str, str]], failing: dict[str, Exception] | None = None) -> FakeClient:
    return FakeClient({"system.columns": rows}, failing)


def test_source_tables_ok() -> None:
    result = doctor.check_source_tables(columns_client(source_rows()), "app")
    assert result.status == PASS and "app.feed_actions" in result.detail


def test_source_tables_missing_table() -> None:
    rows = [row for row in source_rows() if row[0] == "feed_actions"]
    result = doctor.check_source_tables(columns_client(rows), "app")
    assert result.status == FAIL and "app.message_actions" in result.detail and "app.feed_actions" not in result.detail


def test_source_tables_missing_and_mistyped_columns_are_named() -> None:
    rows = source_rows(
        drop=("message_actions.reciever_id", "feed_actions.os"),
        retype={"feed_actions.time": "String"},
        extra=(("message_actions", "receiver_id", "UInt32"),),
    )
    result = doctor.check_source_tables(columns_client(rows), "app")
    assert result.status == FAIL
    assert "message_actions: missing column reciever_id" in result.detail and "ALIAS receiver_id" in result.detail
    assert "feed_actions: missing column os" in result.detail
    assert "feed_actions.time is String, expected datetime" in result.detail


def test_source_tables_unreadable() -> None:
    result = doctor.check_source_tables(
        columns_client(source_rows(), {r"FROM `app`.`feed_actions`": ACCESS_DENIED}), "app"
    )
    assert result.status == FAIL and "cannot SELECT from app.feed_actions" in result.detail


# --- 6. Telegram ---------------------------------------------------------------------------------


SECRET_TOKEN = "424242:AAH-doctor-secret-token"


def test_telegram_outbox_mode() -> None:
    result = doctor.check_telegram({})
    assert result.status == PASS and "outbox" in result.detail


def test_telegram_configuration_error_hides_the_token() -> None:
    result = doctor.check_telegram({"TELEGRAM_BOT_TOKEN": SECRET_TOKEN})
    assert result.status == FAIL and "TELEGRAM_CHAT_ID" in result.detail and SECRET_TOKEN not in result.detail


class FakeTelegram:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def __call__(self, settings: Any, **kwargs: Any) -> FakeTelegram:
        assert kwargs["max_attempts"] == 1
        return self

    def get_me(self) -> dict[str, Any]:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


@pytest.mark.parametrize(
    ("outcome", "status", "expected"),
    [
        ({"username": "pulse_bot"}, PASS, "@pulse_bot"),
        (TelegramError("getMe", 401, "Unauthorized"), FAIL, "rejected the token"),
        (
            TelegramNetworkError("getMe", f"ConnectionError: https://api.telegram.org/bot{SECRET_TOKEN}/getMe refused"),
            FAIL,
            "cannot reach the Bot API",
        ),
    ],
)
def test_telegram_get_me(outcome: Any, status: str, expected: str) -> None:
    env = {"TELEGRAM_BOT_TOKEN": SECRET_TOKEN, "TELEGRAM_CHAT_ID": "-100123"}
    result = doctor.check_telegram(env, client_factory=FakeTelegram(outcome))
    assert result.status == status and expected in result.detail and SECRET_TOKEN not in result.detail


# --- 7. chromium, 8. dbt -------------------------------------------------------------------------


def test_chromium_missing() -> None:
    result = doctor.check_chromium(find=lambda: None)
    assert result.status == FAIL and "apt-get install -y chromium" in result.detail


def test_chromium_version() -> None:
    def run(args: list[str], **kwargs: Any) -> SimpleNamespace:
        assert args == ["/usr/bin/chromium", "--version"]
        return SimpleNamespace(returncode=0, stdout="Chromium 130.0.6723.116 built on Debian\n", stderr="")

    result = doctor.check_chromium(find=lambda: "/usr/bin/chromium", run=run)
    assert result.status == PASS and "Chromium 130" in result.detail


def test_chromium_broken() -> None:
    def run(args: list[str], **kwargs: Any) -> SimpleNamespace:
        raise subprocess.TimeoutExpired(args, 30)

    assert doctor.check_chromium(find=lambda: "/usr/bin/chromium", run=run).status == FAIL


def test_dbt_executable_and_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dbt = tmp_path / "dbt"
    dbt.write_text("#!/bin/sh\n")
    dbt.chmod(0o755)
    assert doctor.check_dbt({}, bin_dir=tmp_path).status == PASS
    bad_target = doctor.check_dbt({"FEEDPULSE_DBT_TARGET": "prod"}, bin_dir=tmp_path)
    assert bad_target.status == FAIL and "local" in bad_target.detail and "cluster" in bad_target.detail
    assert doctor.check_dbt({"FEEDPULSE_DBT_TARGET": "cluster"}, bin_dir=tmp_path).status == WARN
    assert (
        doctor.check_dbt({"FEEDPULSE_DBT_TARGET": "cluster", "CLICKHOUSE_SECURE": "true"}, bin_dir=tmp_path).status
        == PASS
    )
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    assert doctor.check_dbt({}, bin_dir=tmp_path / "nowhere").status == FAIL


# --- composition and the command -----------------------------------------------------------------


def test_command_output_and_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    results = [CheckResult("configuration", PASS, "fine"), CheckResult("connection", FAIL, "cannot connect")]
    monkeypatch.setattr(doctor, "run_checks", lambda **kwargs: results)
    text = CliRunner().invoke(cli(), [])
    assert text.exit_code == 1 and "FAIL" in text.output and "cannot connect" in text.output
    as_json = CliRunner().invoke(cli(), ["--json"])
    assert as_json.exit_code == 1
    body = json.loads(as_json.output)
    assert body["status"] == FAIL and body["checks"][1] == {
        "name": "connection",
        "status": FAIL,
        "detail": "cannot connect",
    }
    monkeypatch.setattr(doctor, "run_checks", lambda **kwargs: [*results[:1], CheckResult("x", WARN, "meh")])
    assert CliRunner().invoke(cli(), []).exit_code == 0


def test_run_checks_scrubs_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    leaky = [CheckResult("connection", FAIL, f"odd error with {WRONG_PASSWORD} and {SECRET_TOKEN}")]
    monkeypatch.setattr(doctor, "clickhouse_checks", lambda *args: leaky)
    monkeypatch.setattr(doctor, "check_chromium", lambda: CheckResult("chromium", PASS, "ok"))
    env = {
        "CLICKHOUSE_PASSWORD": WRONG_PASSWORD,
        "TELEGRAM_BOT_TOKEN": SECRET_TOKEN,
        "TELEGRAM_CHAT_ID": "1",
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
    }
    monkeypatch.setattr(doctor, "check_telegram", lambda env, timeout: CheckResult("telegram", PASS, "ok"))
    text = json.dumps([r.to_dict() for r in doctor.run_checks(env)])
    assert WRONG_PASSWORD not in text and SECRET_TOKEN not in text


# --- integration: the local endpoint -------------------------------------------------------------


def endpoint_env(localhouse: ClickHouseSettings, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TELEGRAM_", "FEEDPULSE_DBT"))}
    env.pop("CLICKHOUSE_HOST", None)
    env.update(
        CLICKHOUSE_PORT=str(localhouse.port),
        CLICKHOUSE_PASSWORD=localhouse.password,
        CLICKHOUSE_USER="default",
        FEEDPULSE_SOURCE_DATABASE="simulator",
    )
    env.update(extra)
    return env


@pytest.mark.integration
def test_local_endpoint_passes(localhouse: ClickHouseSettings, ch_client: Any) -> None:
    from feedpulse.simulator import ensure_tables

    ensure_tables(ch_client, "simulator")
    results = {r.name: r for r in doctor.run_checks(endpoint_env(localhouse), timeout=5)}
    for name in ("configuration", "connection", "server version", "permissions", "source tables", "telegram"):
        assert results[name].status == PASS, results[name]
    # the local endpoint names what it cannot do that production ClickHouse does
    assert results["local endpoint"].status == WARN
    assert "no access control" in results["local endpoint"].detail
    assert "system.query_log" in results["local endpoint"].detail
    assert not any(r.failed for r in results.values()), results
    assert localhouse.password not in json.dumps([r.to_dict() for r in results.values()])


@pytest.mark.integration
def test_local_endpoint_missing_source_tables_are_named(localhouse: ClickHouseSettings, ch_client: Any) -> None:
    env = endpoint_env(localhouse, FEEDPULSE_SOURCE_DATABASE="doctor_nowhere")
    result = {r.name: r for r in doctor.clickhouse_checks(env)}["source tables"]
    assert result.status == FAIL
    assert "doctor_nowhere.feed_actions" in result.detail and "doctor_nowhere.message_actions" in result.detail


@pytest.mark.integration
def test_source_layout_of_deploy_sql_passes_the_doctor(localhouse: ClickHouseSettings, ch_client: Any) -> None:
    """deploy/clickhouse/source_tables.sql parses, and its local tables (minus replication) pass check 5."""
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", SOURCE_SQL.read_text()).split(";") if s.strip()]
    for statement in statements:
        ch_client.query("SELECT formatQuery({q:String})", parameters={"q": statement})
    ch_client.command("CREATE DATABASE IF NOT EXISTS doctor_layout")
    for statement in statements:
        if "_local ON CLUSTER" not in statement:
            continue
        local = statement.replace(" ON CLUSTER feedpulse", "").replace("app.", "doctor_layout.").replace("_local", "")
        local = re.sub(r"ReplicatedMergeTree\([^)]*\)", "MergeTree", local)
        ch_client.command(local)
    try:
        assert doctor.check_source_tables(ch_client, "doctor_layout").status == PASS
    finally:
        ch_client.command("DROP DATABASE IF EXISTS doctor_layout")


@pytest.mark.integration
def test_closed_port_is_a_clear_failure(localhouse: ClickHouseSettings) -> None:
    port = free_port()
    remote = {
        r.name: r
        for r in doctor.clickhouse_checks(
            endpoint_env(localhouse, CLICKHOUSE_HOST="127.0.0.1", CLICKHOUSE_PORT=str(port)), timeout=2
        )
    }
    assert remote["connection"].status == FAIL
    assert f"cannot connect to 127.0.0.1:{port}: connection refused" in remote["connection"].detail
    assert remote["server version"].status == SKIP
    local = {r.name: r for r in doctor.clickhouse_checks(endpoint_env(localhouse, CLICKHOUSE_PORT=str(port)))}
    assert local["connection"].status == FAIL and "not running" in local["connection"].detail


@pytest.mark.integration
def test_wrong_password_fails_without_showing_it(localhouse: ClickHouseSettings) -> None:
    env = endpoint_env(localhouse, CLICKHOUSE_PASSWORD=WRONG_PASSWORD)
    for args in ([], ["--json"]):
        outcome = CliRunner().invoke(cli(), args, env=env)
        assert outcome.exit_code == 1
        assert "authentication failed for user default (code 516)" in outcome.output
        assert WRONG_PASSWORD not in outcome.output


# --- integration: the Telegram Bot API double ----------------------------------------------------


@pytest.mark.integration
def test_telegram_double_get_me(telegram_double: Any) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "1001", "TELEGRAM_API_URL": telegram_double.url}
    result = doctor.check_telegram(env, timeout=5)
    assert result.status == PASS and "@feedpulse_test_bot" in result.detail and TOKEN not in result.detail
    assert telegram_double.sent("getMe")
    rejected = doctor.check_telegram({**env, "TELEGRAM_BOT_TOKEN": "999:WRONG-doctor"}, timeout=5)
    assert rejected.status == FAIL and "401" in rejected.detail and "999:WRONG-doctor" not in rejected.detail


@pytest.mark.integration
def test_command_with_telegram_never_prints_the_token(localhouse: ClickHouseSettings, telegram_double: Any) -> None:
    env = endpoint_env(
        localhouse, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_ID="1001", TELEGRAM_API_URL=telegram_double.url
    )
    outcome = CliRunner().invoke(cli(), ["--json"], env=env)
    checks = {c["name"]: c for c in json.loads(outcome.output)["checks"]}
    assert checks["telegram"]["status"] == PASS and "feedpulse_test_bot" in checks["telegram"]["detail"]
    assert TOKEN not in outcome.output and localhouse.password not in outcome.output
