"""What was delivered, per delivery, chat and part: the memory that makes every part go out once.

SQLite under ``$FEEDPULSE_HOME/state/sent.sqlite`` (stdlib, transactional, safe across processes),
so it survives restarts of Dagster and of the machine. Keys are stable identifiers — the delivery's
key (``feed_report/2024-05-01``, ``alert/2024-05-01T19:15/os:iOS/firing``…), the chat and the part
index — never the message text, which may change between versions.

Tables::

    deliveries(delivery, chat, generation, destination, parts, started_at, completed_at)
    delivered_parts(delivery, chat, generation, part, kind, state, message_ids, at)

A *generation* is one complete copy for a chat: the first delivery is generation 1; ``resend`` of a
complete delivery starts the next one; an incomplete generation is always resumed, never restarted.
A part is marked ``sending`` (committed) before its request goes out and ``sent`` once the answer
is in; a part still ``sending`` afterwards — the process died, or the answer was lost — may or may
not have arrived, and Telegram gives no way to ask, so it is sent again (at-least-once, only there).
A part Telegram refused (an error answer) is known not to have arrived: its mark is removed.

Logs written before per-part delivery (table ``sent``: report, partition, chat) are taken over as
complete deliveries (``<report>/<partition>``), so upgrading does not send old reports again.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from feedpulse.config import feedpulse_home

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS deliveries (
        delivery TEXT NOT NULL, chat TEXT NOT NULL, generation INTEGER NOT NULL, destination TEXT NOT NULL,
        parts INTEGER, started_at TEXT NOT NULL, completed_at TEXT,
        PRIMARY KEY (delivery, chat, generation))""",
    """CREATE TABLE IF NOT EXISTS delivered_parts (
        delivery TEXT NOT NULL, chat TEXT NOT NULL, generation INTEGER NOT NULL, part INTEGER NOT NULL,
        kind TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('sending', 'sent')),
        message_ids TEXT NOT NULL DEFAULT '[]', at TEXT NOT NULL,
        PRIMARY KEY (delivery, chat, generation, part))""",
]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Progress:
    """Where a chat's delivery stands when a run begins."""

    generation: int
    complete: bool = False  # nothing to do (and ``resend`` was not asked)
    new: bool = True  # a new generation (nothing of it delivered yet)
    sent: set[int] = field(default_factory=set)  # parts known delivered
    uncertain: set[int] = field(default_factory=set)  # parts that may have been delivered (no answer recorded)
    recorded_parts: int | None = None  # the part count of the generation when it began


class SentLog:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or feedpulse_home() / "state" / "sent.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            self._take_over_legacy(conn)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE): concurrent runs serialise here."""
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _take_over_legacy(conn: sqlite3.Connection) -> None:
        legacy = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sent'").fetchone()
        if not legacy:
            return
        conn.execute(
            "INSERT OR IGNORE INTO deliveries "
            "(delivery, chat, generation, destination, parts, started_at, completed_at) "
            "SELECT report || '/' || partition, chat, 1, destination, NULL, sent_at, sent_at FROM sent"
        )
        conn.execute("ALTER TABLE sent RENAME TO sent_before_parts")

    # reading ------------------------------------------------------------------------------------

    def delivered_to(self, delivery: str, chats: Iterable[str] | None = None) -> set[str]:
        """Chats that have a complete copy of ``delivery`` (optionally among ``chats``)."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT DISTINCT chat FROM deliveries WHERE delivery = ? AND completed_at IS NOT NULL", (delivery,)
            )
            done = {row[0] for row in rows}
        return done if chats is None else done & {str(chat) for chat in chats}

    def parts(self, delivery: str, chat: str) -> list[tuple[int, int, str, str]]:
        """(generation, part, kind, state) of every recorded part for a chat, in order."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT generation, part, kind, state FROM delivered_parts WHERE delivery = ? AND chat = ? "
                "ORDER BY generation, part",
                (delivery, chat),
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]

    # writing ------------------------------------------------------------------------------------

    def begin(self, delivery: str, chat: str, *, parts: int, destination: str, resend: bool = False) -> Progress:
        """The generation to work on for ``chat``: the incomplete one (resumed), else a new one when
        there is none or ``resend`` is asked; ``complete`` when the chat already has it all."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT generation, completed_at, parts FROM deliveries WHERE delivery = ? AND chat = ? "
                "ORDER BY generation DESC LIMIT 1",
                (delivery, chat),
            ).fetchone()
            if row is not None and row[1] is None:
                states = conn.execute(
                    "SELECT part, state FROM delivered_parts WHERE delivery = ? AND chat = ? AND generation = ?",
                    (delivery, chat, row[0]),
                ).fetchall()
                return Progress(
                    row[0],
                    new=not states,
                    sent={part for part, state in states if state == "sent"},
                    uncertain={part for part, state in states if state == "sending"},
                    recorded_parts=row[2],
                )
            if row is not None and not resend:
                return Progress(row[0], complete=True, new=False)
            generation = (row[0] if row else 0) + 1
            conn.execute(
                "INSERT INTO deliveries (delivery, chat, generation, destination, parts, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (delivery, chat, generation, destination, parts, _now()),
            )
            return Progress(generation, recorded_parts=parts)

    def sending(self, delivery: str, chat: str, generation: int, part: int, kind: str) -> None:
        """Committed before the request goes out: from here on the part may have arrived."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO delivered_parts (delivery, chat, generation, part, kind, state, at) "
                "VALUES (?, ?, ?, ?, ?, 'sending', ?)",
                (delivery, chat, generation, part, kind, _now()),
            )

    def sent(self, delivery: str, chat: str, generation: int, part: int, message_ids: Iterable[int]) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE delivered_parts SET state = 'sent', message_ids = ?, at = ? "
                "WHERE delivery = ? AND chat = ? AND generation = ? AND part = ?",
                (json.dumps(list(message_ids)), _now(), delivery, chat, generation, part),
            )

    def not_sent(self, delivery: str, chat: str, generation: int, part: int) -> None:
        """Telegram answered with an error: the part did not arrive."""
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM delivered_parts WHERE delivery = ? AND chat = ? AND generation = ? AND part = ?",
                (delivery, chat, generation, part),
            )

    def complete(self, delivery: str, chat: str, generation: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE deliveries SET completed_at = ? WHERE delivery = ? AND chat = ? AND generation = ?",
                (_now(), delivery, chat, generation),
            )
