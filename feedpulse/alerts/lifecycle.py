"""Alert lifecycle, as Alertmanager / Grafana do it: firing → repeat while still firing → resolved.

State per (metric, slice) and silences live in SQLite under ``$FEEDPULSE_HOME/state/`` so they
survive restarts. ``process_bucket`` takes the detector's evaluations of one bucket and returns
the notifications to send, grouped by slice (metrics firing together in a slice share one
message). Processing a bucket twice never notifies twice.
"""

from __future__ import annotations

import datetime as dt
import difflib
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from feedpulse.config import feedpulse_home
from feedpulse.durations import parse_duration

Kind = Literal["firing", "repeat", "resolved"]
FIRING_STATUSES = frozenset({"firing", "no_data"})

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS alert_state (
        metric TEXT NOT NULL, slice TEXT NOT NULL, firing INTEGER NOT NULL, started TEXT, last_notified TEXT,
        normal_streak INTEGER NOT NULL DEFAULT 0, last_bucket TEXT, PRIMARY KEY (metric, slice))""",
    """CREATE TABLE IF NOT EXISTS silences (
        id INTEGER PRIMARY KEY AUTOINCREMENT, metric TEXT NOT NULL, slice TEXT, until TEXT NOT NULL,
        created TEXT NOT NULL, comment TEXT NOT NULL DEFAULT '')""",
]


@dataclass
class Notification:
    kind: Kind
    slice: str
    bucket: dt.datetime
    evaluations: list[Any] = field(default_factory=list)  # detector Evaluations (firing/no_data/ok)
    started: dt.datetime | None = None

    @property
    def group_key(self) -> str:
        return f"{self.bucket:%Y%m%dT%H%M}:{self.slice}:{self.kind}"


@dataclass(frozen=True)
class Silence:
    id: int
    metric: str
    slice: str | None
    until: dt.datetime
    comment: str

    def matches(self, metric: str, slice_: str, at: dt.datetime) -> bool:
        return self.metric in (metric, "*") and self.slice in (None, slice_) and at < self.until


SILENCE_MAX = dt.timedelta(days=30)


def silence_duration(value: object) -> dt.timedelta:
    """How long a silence lasts: a duration up to :data:`SILENCE_MAX` (longer: change alerts.yaml)."""
    try:
        return parse_duration(value, maximum=SILENCE_MAX)
    except ValueError as exc:
        hint = "; to stop an alert for longer, remove it from alerts.yaml" if "at most" in str(exc) else ""
        raise ValueError(f"{exc}{hint}") from None


def parse_matcher(text: str) -> tuple[str, str | None]:
    """'views' → ('views', None); 'views:os:iOS' → ('views', 'os:iOS')."""
    metric, _, slice_ = (text or "").strip().partition(":")
    if not metric:
        raise ValueError(f"silence target must be METRIC or METRIC:SLICE, got {text!r}")
    return metric, slice_ or None


def _did_you_mean(value: str, known: Sequence[str]) -> str:
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def check_target(
    text: str, metrics: Sequence[str], dimensions: Sequence[str], known_slices: Iterable[str] = ()
) -> tuple[str, str | None, str | None]:
    """Validate a silence target against what the alerting evaluates.

    ``metrics``: the configured metrics (``*`` = all of them); ``dimensions``: the configured slice
    dimensions (``total``, ``os``, …); ``known_slices``: slice labels seen by the lifecycle so far.
    Returns ``(metric, slice, warning)``; the warning is set when a slice's value cannot be checked
    because no slice of its dimension has been evaluated yet. An unknown metric, dimension or (when
    values are known) slice raises ValueError listing the known ones.
    """
    metric, slice_ = parse_matcher(text)
    if metric != "*" and metric not in metrics:
        raise ValueError(
            f"unknown metric {metric!r}{_did_you_mean(metric, metrics)}; known: {', '.join(metrics)} (or * for all)"
        )
    if slice_ is None:
        return metric, None, None
    known = sorted(set(known_slices))
    if slice_ == "total":
        if "total" not in dimensions:
            raise ValueError(f"the total slice is not evaluated (slices in alerts.yaml: {', '.join(dimensions)})")
        return metric, slice_, None
    dimension, _, value = slice_.partition(":")
    if dimension not in dimensions or dimension == "total" or not value:
        forms = ", ".join("total" if d == "total" else f"{d}:VALUE" for d in dimensions)
        listed = f"; known: {', '.join(known)}" if known else ""
        raise ValueError(f"unknown slice {slice_!r}{_did_you_mean(slice_, known)}: slices are {forms}{listed}")
    values = [k for k in known if k.startswith(f"{dimension}:")]
    if not values:
        return (
            metric,
            slice_,
            (
                f"no {dimension} slice has been evaluated yet, so {value!r} cannot be checked: "
                f"the silence mutes nothing unless the data has a slice {slice_!r}"
            ),
        )
    if slice_ not in values:
        raise ValueError(f"unknown slice {slice_!r}{_did_you_mean(slice_, values)}; known: {', '.join(known)}")
    return metric, slice_, None


class AlertStore:
    """SQLite-backed alert state and silences."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or feedpulse_home() / "state" / "alerts.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn, conn:
            for statement in SCHEMA:
                conn.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    # silences ------------------------------------------------------------------------------
    def add_silence(self, target: str, duration: dt.timedelta, now: dt.datetime, comment: str = "") -> Silence:
        """Store a silence (validate the target with :func:`check_target` first); ``duration`` ≤ SILENCE_MAX."""
        metric, slice_ = parse_matcher(target)
        until = now + silence_duration(duration)
        with closing(self._connect()) as conn, conn:
            cursor = conn.execute(
                "INSERT INTO silences (metric, slice, until, created, comment) VALUES (?, ?, ?, ?, ?)",
                (metric, slice_, until.isoformat(), now.isoformat(), comment),
            )
            return Silence(int(cursor.lastrowid), metric, slice_, until, comment)

    def silences(self, now: dt.datetime | None = None) -> list[Silence]:
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT id, metric, slice, until, comment FROM silences ORDER BY id").fetchall()
        found = [Silence(r[0], r[1], r[2], dt.datetime.fromisoformat(r[3]), r[4]) for r in rows]
        return [s for s in found if now is None or s.until > now]

    def remove_silence(self, silence_id: int) -> bool:
        with closing(self._connect()) as conn, conn:
            return conn.execute("DELETE FROM silences WHERE id = ?", (silence_id,)).rowcount > 0

    def known_slices(self) -> list[str]:
        """Slice labels the lifecycle has evaluated (every evaluation stores a state row)."""
        with closing(self._connect()) as conn:
            return [row[0] for row in conn.execute("SELECT DISTINCT slice FROM alert_state ORDER BY slice")]

    def silenced(self, metric: str, slice_: str, at: dt.datetime) -> bool:
        return any(s.matches(metric, slice_, at) for s in self.silences(at))

    # state ---------------------------------------------------------------------------------
    def state(self, metric: str, slice_: str) -> dict[str, Any] | None:
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT firing, started, last_notified, normal_streak, last_bucket FROM alert_state "
                "WHERE metric = ? AND slice = ?",
                (metric, slice_),
            ).fetchone()
        if row is None:
            return None
        return {
            "firing": bool(row[0]),
            "started": _ts(row[1]),
            "last_notified": _ts(row[2]),
            "normal_streak": row[3],
            "last_bucket": _ts(row[4]),
        }

    def save(self, metric: str, slice_: str, state: dict[str, Any]) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT OR REPLACE INTO alert_state (metric, slice, firing, started, last_notified, normal_streak, "
                "last_bucket) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    metric,
                    slice_,
                    int(state["firing"]),
                    _iso(state["started"]),
                    _iso(state["last_notified"]),
                    state["normal_streak"],
                    _iso(state["last_bucket"]),
                ),
            )

    def firing(self) -> list[tuple[str, str, dict[str, Any]]]:
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT metric, slice FROM alert_state WHERE firing = 1 ORDER BY metric, slice")
            keys = rows.fetchall()
        return [(m, s, self.state(m, s) or {}) for m, s in keys]


def _ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def process_bucket(
    store: AlertStore,
    evaluations: Iterable[Any],
    *,
    repeat_interval: dt.timedelta = dt.timedelta(hours=2),
    resolve_after: int = 2,
) -> list[Notification]:
    """Advance every (metric, slice) to this bucket; return notifications grouped by slice and kind."""
    groups: dict[tuple[str, Kind], Notification] = {}
    for evaluation in evaluations:
        bucket = _as_datetime(evaluation.bucket)
        state = store.state(evaluation.metric, evaluation.slice) or {
            "firing": False,
            "started": None,
            "last_notified": None,
            "normal_streak": 0,
            "last_bucket": None,
        }
        if state["last_bucket"] is not None and bucket <= state["last_bucket"]:
            continue  # already processed: never notify twice for a bucket
        kind = _advance(state, evaluation.status in FIRING_STATUSES, bucket, repeat_interval, resolve_after)
        state["last_bucket"] = bucket
        if kind is not None and not store.silenced(evaluation.metric, evaluation.slice, bucket):
            note = groups.setdefault(
                (evaluation.slice, kind), Notification(kind, evaluation.slice, bucket, started=state["started"])
            )
            note.evaluations.append(evaluation)
            state["last_notified"] = bucket
        if kind == "resolved":
            state["started"] = None
        store.save(evaluation.metric, evaluation.slice, state)
    return list(groups.values())


def _advance(
    state: dict[str, Any], bad: bool, bucket: dt.datetime, repeat_interval: dt.timedelta, resolve_after: int
) -> Kind | None:
    if bad:
        state["normal_streak"] = 0
        if not state["firing"]:
            state["firing"], state["started"] = True, bucket
            return "firing"
        last = state["last_notified"]
        if last is None or bucket - last >= repeat_interval:
            return "repeat"
        return None
    if state["firing"]:
        state["normal_streak"] += 1
        if state["normal_streak"] >= resolve_after:
            state["firing"], state["normal_streak"] = False, 0
            return "resolved"
    return None


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value
    to_pydatetime = getattr(value, "to_pydatetime", None)
    if to_pydatetime is not None:
        return _as_datetime(to_pydatetime())
    return dt.datetime.fromisoformat(str(value))
