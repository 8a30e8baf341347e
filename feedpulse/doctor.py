"""``feedpulse doctor``: is this environment ready to run feedpulse?

Each check is a small function returning a :class:`CheckResult` (``pass``, ``warn``, ``fail`` or
``skip`` plus a one-line detail), so each can be tested with fakes; :func:`run_checks` composes
them in order and :func:`doctor_command` prints them (``--json`` for machines) and exits 1 if any
failed. The checks:

1. configuration — the ``CLICKHOUSE_*`` environment parses; local endpoint or remote server.
2. connection — clickhouse-connect reaches the server with short timeouts. The local endpoint is
   never started unless ``--start-local`` is given. On the local endpoint a warning names what it
   cannot do that a ClickHouse server does (``feedpulse/localhouse/differences.py``).
3. server version — warns below :data:`OLDEST_TESTED`.
4. permissions — a scratch table can be created and dropped in ``analytics`` and ``test`` (or, for
   a database that does not exist yet, ``CHECK GRANT CREATE DATABASE``).
5. source tables — ``feed_actions`` and ``message_actions`` exist in the source database with the
   columns the ETL reads, in compatible types, and are readable.
6. Telegram — outbox mode without a token; otherwise ``getMe`` answers (the token is never shown).
7. chromium — the browser kaleido renders charts with is there and runs.
8. dbt — the dbt executable next to the interpreter, and the selected profile target exists.

Secrets (``CLICKHOUSE_PASSWORD``, ``TELEGRAM_BOT_TOKEN``) never appear in the output: every
detail is scrubbed of them before it is printed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import typer
import yaml

from feedpulse.config import DEFAULT_SOURCE_DATABASE, ClickHouseSettings, Settings, environment

OLDEST_TESTED = "24.3"  # the oldest ClickHouse release feedpulse is known to work with
TESTED_ON = "26.9"  # the test suite runs on this release (the engine of the local endpoint, chDB)
TARGET_DATABASES = ("analytics", "test")
DEFAULT_TIMEOUT = 5.0
DBT_PROFILES = Path(__file__).resolve().parents[1] / "dbt_project" / "profiles.yml"

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
_RANK = {PASS: 0, SKIP: 0, WARN: 1, FAIL: 2}

# Columns the ETL reads from the source tables, by type family (see :func:`type_family`).
SOURCE_COLUMNS: dict[str, dict[str, str]] = {
    "feed_actions": {
        "user_id": "integer", "post_id": "integer", "action": "string", "time": "datetime",
        "gender": "integer", "age": "integer", "country": "string", "city": "string", "os": "string",
        "source": "string", "exp_group": "integer",
    },
    "message_actions": {
        "user_id": "integer", "reciever_id": "integer", "time": "datetime", "source": "string",
        "exp_group": "integer", "gender": "integer", "age": "integer", "country": "string", "city": "string",
        "os": "string",
    },
}  # fmt: skip


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's report."""

    name: str
    status: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


# --- helpers -----------------------------------------------------------------------------------


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def version_tuple(version: str) -> tuple[int, ...]:
    """``"24.3.1.2672"`` → ``(24, 3, 1, 2672)``; non-numeric parts end the tuple."""
    parts: list[int] = []
    for part in version.strip().split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def type_family(ch_type: str) -> str:
    """The family of a ClickHouse type as far as the ETL cares: integer, string, datetime or the type."""
    inner = ch_type.strip()
    wrapper = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")
    while match := wrapper.match(inner):
        inner = match.group(1).strip()
    if re.fullmatch(r"U?Int(8|16|32|64|128|256)", inner):
        return "integer"
    if inner == "String" or inner.startswith(("FixedString(", "Enum8(", "Enum16(")):
        return "string"
    if inner.startswith("DateTime"):
        return "datetime"
    return inner


def _error_code(text: str) -> int | None:
    match = re.search(r"\bcode:?\s*(\d+)", text, re.IGNORECASE)
    return int(match.group(1)) if match else None


def _first(rows: Any) -> Any:
    return rows[0][0] if rows else None


# --- 1. configuration ----------------------------------------------------------------------------


def check_configuration(env: Mapping[str, str]) -> CheckResult:
    """The CLICKHOUSE_* and FEEDPULSE_SOURCE_DATABASE environment parses; where it points."""
    try:
        settings = ClickHouseSettings.from_env(dict(env))
        source = Settings.from_env(env).source_database
    except ValueError as exc:  # SettingsError names the variable
        return CheckResult("configuration", FAIL, str(exc))
    password = "password set" if settings.password else "no password"
    if settings.is_local:
        detail = f"local endpoint {settings.url} (CLICKHOUSE_HOST unset), user {settings.user}, {password}"
        return CheckResult("configuration", PASS, f"{detail}; source database {source}")
    detail = f"remote server {settings.url}, user {settings.user}, {password}; source database {source}"
    if not settings.secure and settings.host not in ("127.0.0.1", "localhost", "::1"):
        return CheckResult(
            "configuration",
            WARN,
            f"{detail} — plain HTTP to a remote server: set CLICKHOUSE_SECURE=true (HTTPS, port 8443)",
        )
    return CheckResult("configuration", PASS, detail)


# --- 2. connection -------------------------------------------------------------------------------


def describe_connection_error(exc: BaseException, settings: ClickHouseSettings, timeout: float) -> str:
    """A short, actionable message for a failed connection (never containing the password)."""
    text = str(exc)
    lowered = text.lower()
    where = f"{settings.host}:{settings.port}"
    code = _error_code(text)
    if code in (516, 192) or "authentication_failed" in lowered:
        message = (
            f"authentication failed for user {settings.user} (code 516): check CLICKHOUSE_USER/CLICKHOUSE_PASSWORD"
        )
    elif "connection refused" in lowered:
        message = (
            f"cannot connect to {where}: connection refused — is the server running? check CLICKHOUSE_HOST/PORT/SECURE"
        )
    elif "timed out" in lowered or "timeout" in lowered:
        message = (
            f"cannot connect to {where}: no answer within {timeout:g} s — check CLICKHOUSE_HOST/PORT "
            "and the network/firewall"
        )
    elif any(
        hint in lowered
        for hint in (
            "name or service not known",
            "nodename nor servname",
            "failed to resolve",
            "name resolution",
            "getaddrinfo",
        )
    ):
        message = f"cannot resolve host {settings.host!r}: check CLICKHOUSE_HOST"
    elif "ssl" in lowered or "certificate" in lowered:
        message = (
            f"TLS error talking to {where}: check CLICKHOUSE_SECURE (HTTPS is usually port 8443) "
            "and the server certificate"
        )
    elif any(
        hint in lowered for hint in ("remotedisconnected", "connection aborted", "badstatusline", "connection reset")
    ):
        message = (
            f"{where} closed the connection — is it ClickHouse's HTTP(S) port (8123/8443) and does "
            "CLICKHOUSE_SECURE match?"
        )
    else:
        first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        message = f"cannot use {where}: {first_line[:300]}"
    return scrub(message, [settings.password])


def _default_connect(settings: ClickHouseSettings, timeout: float) -> Any:
    import clickhouse_connect

    driver_log = logging.getLogger("clickhouse_connect")
    level = driver_log.level
    driver_log.setLevel(logging.CRITICAL)  # it logs "Unexpected Http Driver Exception"; we explain instead
    try:
        return clickhouse_connect.get_client(
            host=settings.host,
            port=settings.port,
            username=settings.user,
            password=settings.password,
            secure=settings.secure,
            connect_timeout=max(1, round(timeout)),
            send_receive_timeout=max(5, round(timeout * 6)),
            query_retries=0,
            autogenerate_session_id=False,
        )
    finally:
        driver_log.setLevel(level)


def _default_ping(host: str, port: int, timeout: float) -> bool:
    from feedpulse.localhouse import manager

    return manager.ping(host, port, timeout=timeout)


def _default_start(settings: ClickHouseSettings) -> None:
    from feedpulse.clickhouse import ensure_server

    ensure_server(settings)


def check_local_endpoint(
    settings: ClickHouseSettings,
    start_local: bool,
    timeout: float = DEFAULT_TIMEOUT,
    ping: Callable[[str, int, float], bool] = _default_ping,
    start: Callable[[ClickHouseSettings], None] = _default_start,
) -> CheckResult | None:
    """None if the local endpoint answers (or was started); a failing result otherwise."""
    if ping(settings.host, settings.port, min(timeout, 2.0)):
        return None
    if not start_local:
        return CheckResult(
            "connection",
            FAIL,
            f"the local endpoint is not running on {settings.url}: start it with "
            "`feedpulse localhouse start` (or run `feedpulse doctor --start-local`), "
            "or set CLICKHOUSE_HOST to use a ClickHouse server",
        )
    try:
        start(settings)
    except (RuntimeError, OSError) as exc:
        return CheckResult(
            "connection",
            FAIL,
            scrub(f"could not start the local endpoint on {settings.url}: {exc}", [settings.password]),
        )
    return None


def check_connection(
    settings: ClickHouseSettings,
    timeout: float = DEFAULT_TIMEOUT,
    connect: Callable[[ClickHouseSettings, float], Any] = _default_connect,
) -> tuple[CheckResult, Any]:
    """(result, client) — the client is None when the connection failed."""
    try:
        client = connect(settings, timeout)
    except Exception as exc:  # clickhouse-connect raises its own and requests' errors
        return CheckResult("connection", FAIL, describe_connection_error(exc, settings, timeout)), None
    kind = "local endpoint" if settings.is_local else "server"
    return CheckResult("connection", PASS, f"connected to {kind} {settings.url} as {settings.user}"), client


def server_display_name(settings: ClickHouseSettings, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The server's X-ClickHouse-Server-Display-Name (None if it cannot be had)."""
    import requests

    try:
        response = requests.get(
            settings.url, params={"query": "SELECT 1"}, auth=(settings.user, settings.password), timeout=timeout
        )
    except requests.RequestException:
        return None
    return response.headers.get("X-ClickHouse-Server-Display-Name")


def check_local_differences(display_name: str | None) -> CheckResult | None:
    """On feedpulse's local endpoint, name what it cannot do that production ClickHouse does."""
    from feedpulse.localhouse.differences import DIFFERENCES, DISPLAY_NAME

    if display_name != DISPLAY_NAME:
        return None
    return CheckResult(
        "local endpoint",
        WARN,
        "chDB behind ClickHouse's HTTP interface, not a server: "
        + "; ".join(DIFFERENCES)
        + " (docs/local-endpoint.md)",
    )


# --- 3. server version ---------------------------------------------------------------------------


def check_server_version(client: Any, oldest: str = OLDEST_TESTED) -> CheckResult:
    """``SELECT version()``; warn below the oldest tested release."""
    try:
        version = str(_first(client.query("SELECT version()").result_rows))
    except Exception as exc:
        return CheckResult("server version", FAIL, f"SELECT version() failed: {_short(exc)}")
    if version_tuple(version) < version_tuple(oldest):
        return CheckResult(
            "server version",
            WARN,
            f"ClickHouse {version} is older than {oldest}, the oldest release feedpulse is tested "
            f"with (the suite runs on {TESTED_ON}); upgrade if the ETL fails",
        )
    return CheckResult("server version", PASS, f"ClickHouse {version} (≥ {oldest}, the oldest tested)")


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    match = re.search(r"(Code: \d+\. DB::Exception: .*?)(?: \(version |$)", text, re.DOTALL)
    line = match.group(1) if match else (text.splitlines()[0] if text else type(exc).__name__)
    return " ".join(line.split())[:300]


# --- 4. permissions ------------------------------------------------------------------------------


def _existing_databases(client: Any) -> set[str]:
    return {str(row[0]) for row in client.query("SELECT name FROM system.databases").result_rows}


def _scratch_table(client: Any, database: str) -> str | None:
    """Create and drop a scratch table in ``database``; None if allowed, else the reason."""
    table = f"`{database}`.`_feedpulse_doctor_{uuid.uuid4().hex[:12]}`"
    try:
        client.command(f"CREATE TABLE {table} (x UInt8) ENGINE = Memory")
    except Exception as exc:
        return f"cannot CREATE TABLE in {database}: {_short(exc)}"
    try:
        client.command(f"DROP TABLE {table}")
    except Exception as exc:
        return f"cannot DROP TABLE in {database} (drop {table} by hand): {_short(exc)}"
    return None


def _create_database_grant(client: Any, database: str) -> str | None:
    """For a database that does not exist yet: None if CREATE DATABASE is granted, else the reason."""
    try:
        granted = _first(client.query(f"CHECK GRANT CREATE DATABASE ON `{database}`.*").result_rows)
    except Exception:
        return f"database {database} does not exist and CHECK GRANT is not supported here: dbt must create it"
    if not granted or str(granted) in ("0", "False"):
        return f"database {database} does not exist and user may not CREATE DATABASE: create it or grant that"
    return None


def check_permissions(client: Any, databases: Iterable[str] = TARGET_DATABASES) -> CheckResult:
    """The ETL writes into ``analytics`` and ``test``: create/drop a scratch table there."""
    try:
        existing = _existing_databases(client)
    except Exception as exc:
        return CheckResult("permissions", FAIL, f"cannot list databases: {_short(exc)}")
    problems, notes = [], []
    for database in databases:
        if database in existing:
            problem = _scratch_table(client, database)
            notes.append(f"{database}: create/drop ok")
        else:
            problem = _create_database_grant(client, database)
            notes.append(f"{database}: missing, CREATE DATABASE granted (dbt creates it)")
        if problem:
            problems.append(problem)
    if problems:
        unsupported = all("not supported" in problem for problem in problems)
        return CheckResult("permissions", WARN if unsupported else FAIL, "; ".join(problems))
    return CheckResult("permissions", PASS, "; ".join(notes))


# --- 5. source tables ----------------------------------------------------------------------------


def _source_columns(client: Any, database: str) -> dict[str, dict[str, str]]:
    rows = client.query(
        "SELECT table, name, type FROM system.columns WHERE database = {db:String} AND table IN {tables:Array(String)}",
        parameters={"db": database, "tables": list(SOURCE_COLUMNS)},
    ).result_rows
    found: dict[str, dict[str, str]] = {}
    for table, name, ch_type in rows:
        found.setdefault(str(table), {})[str(name)] = str(ch_type)
    return found


def column_problems(table: str, columns: Mapping[str, str]) -> list[str]:
    """What is missing or incompatible in ``table`` (its name → type) for the ETL."""
    problems = []
    for name, family in SOURCE_COLUMNS[table].items():
        if name not in columns:
            hint = (
                " (the ETL reads the original spelling; add `reciever_id UInt32 ALIAS receiver_id`)"
                if (name == "reciever_id" and "receiver_id" in columns)
                else ""
            )
            problems.append(f"{table}: missing column {name}{hint}")
        elif type_family(columns[name]) != family:
            problems.append(f"{table}.{name} is {columns[name]}, expected {family}")
    return problems


def _unreadable(client: Any, database: str, table: str) -> str | None:
    try:
        client.query(f"SELECT * FROM `{database}`.`{table}` LIMIT 0")
    except Exception as exc:
        return f"cannot SELECT from {database}.{table}: {_short(exc)}"
    return None


def check_source_tables(client: Any, database: str = DEFAULT_SOURCE_DATABASE) -> CheckResult:
    """``<database>.feed_actions`` and ``.message_actions`` exist, with the columns the ETL reads."""
    try:
        found = _source_columns(client, database)
    except Exception as exc:
        return CheckResult("source tables", FAIL, f"cannot read system.columns: {_short(exc)}")
    missing = [f"{database}.{table}" for table in SOURCE_COLUMNS if table not in found]
    if missing:
        return CheckResult(
            "source tables",
            FAIL,
            f"missing table(s) {', '.join(missing)}: set FEEDPULSE_SOURCE_DATABASE, create them "
            "(deploy/clickhouse/source_tables.sql) or fill them with `feedpulse simulate`",
        )
    problems = [problem for table in SOURCE_COLUMNS for problem in column_problems(table, found[table])]
    problems += [p for table in SOURCE_COLUMNS if (p := _unreadable(client, database, table))]
    if problems:
        return CheckResult("source tables", FAIL, "; ".join(problems))
    return CheckResult(
        "source tables", PASS, f"{database}.feed_actions and {database}.message_actions have the expected columns"
    )


# --- 6. Telegram ---------------------------------------------------------------------------------


def check_telegram(
    env: Mapping[str, str], timeout: float = DEFAULT_TIMEOUT, client_factory: Callable[..., Any] | None = None
) -> CheckResult:
    """Outbox mode without a token; otherwise ``getMe`` must answer. The token is never shown."""
    from feedpulse.telegram import TelegramClient, TelegramError, TelegramSettings, redact

    token = (env.get("TELEGRAM_BOT_TOKEN") or "").strip()
    try:
        settings = TelegramSettings.from_env(dict(env))
    except ValueError as exc:
        return CheckResult("telegram", FAIL, scrub(redact(str(exc)), [token]))
    if not settings.token:
        return CheckResult(
            "telegram", PASS, "outbox mode: TELEGRAM_BOT_TOKEN unset, reports go to $FEEDPULSE_HOME/outbox/"
        )
    factory = client_factory or TelegramClient
    try:
        me = factory(settings, max_attempts=1, timeout=timeout).get_me()
    except TelegramError as exc:
        return CheckResult("telegram", FAIL, scrub(redact(_telegram_problem(exc, settings.api_url)), [token]))
    username = (me or {}).get("username") or (me or {}).get("first_name") or "?"
    chats = len(settings.chat_ids)
    return CheckResult(
        "telegram",
        PASS,
        scrub(redact(f"bot @{username} reachable at {settings.api_url}, {chats} chat(s) in TELEGRAM_CHAT_ID"), [token]),
    )


def _telegram_problem(exc: Any, api_url: str) -> str:
    if exc.status == 401:
        return f"the Bot API at {api_url} rejected the token (HTTP 401 Unauthorized): check TELEGRAM_BOT_TOKEN"
    if exc.status is None:
        return f"cannot reach the Bot API at {api_url}: {exc.description} — check the network/TELEGRAM_API_URL"
    return str(exc)


# --- 7. chromium ---------------------------------------------------------------------------------


def _default_chromium() -> str | None:
    from feedpulse.charts.render import chromium_path

    return chromium_path()


def check_chromium(
    find: Callable[[], str | None] = _default_chromium, run: Callable[..., Any] = subprocess.run, timeout: float = 30.0
) -> CheckResult:
    """kaleido renders the report charts with Chromium: it must exist and start."""
    path = find()
    if not path:
        return CheckResult(
            "chromium",
            FAIL,
            "no Chromium found: install Debian's chromium (apt-get install -y chromium) or set "
            "BROWSER_PATH; reports need it to render charts",
        )
    try:
        done = run([path, "--version"], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return CheckResult("chromium", FAIL, f"{path} --version failed: {exc}")
    output = (done.stdout or "").strip() or (done.stderr or "").strip()
    if done.returncode != 0:
        return CheckResult("chromium", FAIL, f"{path} --version exited {done.returncode}: {output[:200]}")
    return CheckResult("chromium", PASS, f"{output.splitlines()[0] if output else 'chromium'} ({path})")


# --- 8. dbt --------------------------------------------------------------------------------------


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _profile_targets(profiles: Path) -> list[str]:
    document = yaml.safe_load(profiles.read_text()) or {}
    return list(((document.get("feedpulse") or {}).get("outputs") or {}).keys())


def check_dbt(env: Mapping[str, str], bin_dir: Path | None = None, profiles: Path = DBT_PROFILES) -> CheckResult:
    """dbt beside the interpreter (what Dagster runs) and FEEDPULSE_DBT_TARGET among the profile's outputs."""
    executable = (bin_dir or Path(sys.executable).parent) / "dbt"
    versions = f"dbt-core {_package_version('dbt-core')}, dbt-clickhouse {_package_version('dbt-clickhouse')}"
    target = env.get("FEEDPULSE_DBT_TARGET") or "local"
    targets = _profile_targets(profiles) if profiles.exists() else []
    if targets and target not in targets:
        return CheckResult(
            "dbt", FAIL, f"FEEDPULSE_DBT_TARGET={target} is not an output of {profiles.name} ({', '.join(targets)})"
        )
    if executable.exists() and os.access(executable, os.X_OK):
        if target == "cluster" and not (env.get("CLICKHOUSE_SECURE") or "").strip():
            return CheckResult(
                "dbt",
                WARN,
                f"{executable} ({versions}), target cluster: set CLICKHOUSE_SECURE "
                "explicitly (the cluster target defaults to HTTPS, feedpulse's Python side to HTTP)",
            )
        return CheckResult("dbt", PASS, f"{executable} ({versions}), target {target}")
    on_path = shutil.which("dbt")
    if on_path:
        return CheckResult("dbt", WARN, f"no dbt next to {sys.executable}; the one on PATH is used: {on_path}")
    return CheckResult("dbt", FAIL, f"no dbt executable next to {sys.executable} nor on PATH: pip install -e .")


# --- composition ---------------------------------------------------------------------------------


def _skipped(names: Iterable[str], reason: str) -> list[CheckResult]:
    return [CheckResult(name, SKIP, reason) for name in names]


def clickhouse_checks(
    env: Mapping[str, str], start_local: bool = False, timeout: float = DEFAULT_TIMEOUT
) -> list[CheckResult]:
    """Checks 1–5, each after the one it depends on."""
    results = [check_configuration(env)]
    later = ("server version", "permissions", "source tables")
    if results[0].failed:
        return [*results, *_skipped(("connection", *later), "fix the configuration first")]
    settings = ClickHouseSettings.from_env(dict(env))
    if settings.is_local:
        local = check_local_endpoint(settings, start_local, timeout)
        if local is not None:
            return [*results, local, *_skipped(later, "no connection")]
    connection, client = check_connection(settings, timeout)
    results.append(connection)
    if client is None:
        return [*results, *_skipped(later, "no connection")]
    differences = check_local_differences(server_display_name(settings, timeout))
    if differences is not None:
        results.append(differences)
    try:
        source = Settings.from_env(env).source_database
        results += [check_server_version(client), check_permissions(client), check_source_tables(client, source)]
    finally:
        client.close()
    return results


def run_checks(
    env: Mapping[str, str] | None = None, start_local: bool = False, timeout: float = DEFAULT_TIMEOUT
) -> list[CheckResult]:
    """All checks, in order, with every secret of ``env`` scrubbed from the details."""
    env = dict(environment() if env is None else env)
    results = [
        *clickhouse_checks(env, start_local, timeout),
        check_telegram(env, timeout),
        check_chromium(),
        check_dbt(env),
    ]
    secrets = [env.get("CLICKHOUSE_PASSWORD"), (env.get("TELEGRAM_BOT_TOKEN") or "").strip()]
    return [CheckResult(r.name, r.status, scrub(r.detail, secrets)) for r in results]


def overall_status(results: Iterable[CheckResult]) -> str:
    """The worst status: fail > warn > pass (skips count as pass)."""
    worst = max((_RANK[r.status] for r in results), default=0)
    return {0: PASS, 1: WARN, 2: FAIL}[worst]


def render_json(results: list[CheckResult]) -> str:
    status = overall_status(results)
    return json.dumps(
        {"status": status, "ok": status != FAIL, "checks": [r.to_dict() for r in results]}, indent=2, ensure_ascii=False
    )


def render_text(results: list[CheckResult]) -> None:
    from rich.console import Console
    from rich.markup import escape

    styles = {PASS: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim"}
    console = Console(soft_wrap=True, highlight=False)
    width = max(len(r.name) for r in results)
    for result in results:
        label = f"[{styles[result.status]}]{result.status.upper():<4}[/]"
        console.print(f"{label}  {escape(result.name):<{width}}  {escape(result.detail)}")
    counts = {status: sum(r.status == status for r in results) for status in (PASS, WARN, FAIL, SKIP)}
    console.print(f"\n{counts[PASS]} passed, {counts[WARN]} warning(s), {counts[FAIL]} failed, {counts[SKIP]} skipped")


def doctor_command(
    json_output: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    start_local: bool = typer.Option(
        False, "--start-local", help="Start the local endpoint if CLICKHOUSE_HOST is unset and it is not running."
    ),
    timeout: float = typer.Option(DEFAULT_TIMEOUT, "--timeout", min=0.5, help="Connection timeout in seconds."),
) -> None:
    """Check the connection, server version, permissions, source tables, Telegram, chromium and dbt."""
    results = run_checks(start_local=start_local, timeout=timeout)
    if json_output:
        typer.echo(render_json(results))
    else:
        render_text(results)
    if any(result.failed for result in results):
        raise typer.Exit(code=1)
