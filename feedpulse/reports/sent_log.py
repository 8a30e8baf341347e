"""What was sent, per report, partition and chat: a re-materialized partition is not sent again.

SQLite under ``$FEEDPULSE_HOME/state/`` (stdlib, transactional, safe across processes), so the
memory survives restarts of Dagster and of the machine.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from feedpulse.config import feedpulse_home

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    report TEXT NOT NULL,
    partition TEXT NOT NULL,
    chat TEXT NOT NULL,
    destination TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (report, partition, chat)
)
"""


class SentLog:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or feedpulse_home() / "state" / "sent.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn, conn:
            conn.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def sent_to(self, report: str, partition: str) -> set[str]:
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT chat FROM sent WHERE report = ? AND partition = ?", (report, partition))
            return {row[0] for row in rows}

    def record(self, report: str, partition: str, chats: Iterable[str], destination: str) -> None:
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with closing(self._connect()) as conn, conn:
            conn.executemany(
                "INSERT OR REPLACE INTO sent (report, partition, chat, destination, sent_at) VALUES (?, ?, ?, ?, ?)",
                [(report, partition, chat, destination, now) for chat in chats],
            )
