"""Anomaly specs: injected incidents (drops, spikes, outages, ad campaigns) read from YAML.

A file is a YAML list (or a mapping with an ``anomalies:`` list) of entries::

    - name: android views drop
      metric: views            # views | likes | messages | feed_users | messenger_users | users | new_users
      start: "2026-11-20 14:00"  # absolute time in the ClickHouse server's timezone
      duration: 45m            # 90s, 45m, 2h, 1d, 1h30m …
      change: -0.4             # relative change: -0.4 = −40 %, -1 = nothing, +0.5 = +50 %
      segment: {os: Android}   # optional: os, city, country, gender, source, exp_group, age ("18-24")
      retention_days: 3        # new_users only: campaign users come back for this many days

Semantics: event metrics (views, likes, messages) drop events with probability ``-change`` or
replicate them ``1 + change`` times on average; user metrics (feed_users, messenger_users, users)
make a share ``-change`` of the matching users disappear from that service (or the whole app) during
the window (decreases only); ``new_users`` adds ``change × the usual new users`` ad-campaign users
(source ads, short retention) signing up during the window, or removes sign-ups when negative.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedpulse.durations import parse_duration
from feedpulse.specfile import SpecError, load_spec_file

EVENT_METRICS = ("views", "likes", "messages")
USER_METRICS = ("feed_users", "messenger_users", "users")
METRICS = (*EVENT_METRICS, *USER_METRICS, "new_users")
SEGMENT_KEYS = ("os", "city", "country", "gender", "source", "exp_group", "age")


@dataclass(frozen=True)
class Anomaly:
    """One injected incident over ``[start, end)`` (server-local naive datetimes)."""

    name: str
    metric: str
    start: dt.datetime
    end: dt.datetime
    change: float
    segment: dict[str, tuple[str | int, ...]] = field(default_factory=dict)
    retention_days: int = 2

    def overlaps(self, lo: dt.datetime, hi: dt.datetime) -> bool:
        return self.start < hi and lo < self.end


@dataclass(frozen=True)
class AnomalySpec:
    anomalies: tuple[Anomaly, ...] = ()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.anomalies)

    def __len__(self) -> int:
        return len(self.anomalies)


def parse_datetime(value: Any) -> dt.datetime:
    """``"2026-11-20 14:00"`` / ``"2026-11-20T14:00:00"`` / a YAML date or datetime."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    try:
        return dt.datetime.fromisoformat(str(value).strip()).replace(tzinfo=None, microsecond=0)
    except ValueError:
        raise ValueError(f"expected a time like '2026-11-20 14:00', got {value!r}") from None


def _segment(raw: Any) -> dict[str, tuple[str | int, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a mapping like {{os: Android}}, got {raw!r}")
    out: dict[str, tuple[str | int, ...]] = {}
    for key, value in raw.items():
        if key not in SEGMENT_KEYS:
            raise ValueError(f"unknown segment key {key!r} (known: {', '.join(SEGMENT_KEYS)})")
        values = tuple(value) if isinstance(value, list | tuple) else (value,)
        if not values:
            raise ValueError(f"segment {key!r} has no values")
        if key in ("gender", "exp_group"):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                raise ValueError(f"segment {key!r} needs integers, got {value!r}")
        elif key == "age":
            for v in values:
                if not re.fullmatch(r"\d+-\d+|\d+\+?", str(v)):
                    raise ValueError(f"segment 'age' needs ranges like '18-24' or '55+', got {v!r}")
            values = tuple(str(v) for v in values)
        else:
            values = tuple(str(v) for v in values)
        out[str(key)] = values
    return out


_FIELDS = {"name", "metric", "start", "duration", "end", "change", "segment", "retention_days"}


def _field(label: str, name: str, func, value):  # type: ignore[no-untyped-def]
    try:
        return func(value)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{label}: field '{name}': {exc}") from None


def _change(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number like -0.4, got {value!r}")
    if value < -1:
        raise ValueError(f"must be ≥ -1 (−100 %), got {value}")
    return float(value)


def parse_anomaly(raw: Any, index: int) -> Anomaly:
    """Validate one YAML entry; errors name the entry (index and name) and the field."""
    label = f"anomalies[{index}]"
    if not isinstance(raw, Mapping):
        raise SpecError(f"{label}: expected a mapping with name, metric, start, duration, change")
    if raw.get("name"):
        label += f" ({raw['name']!r})"
    unknown = sorted(set(map(str, raw)) - _FIELDS)
    if unknown:
        raise SpecError(f"{label}: unknown field(s) {', '.join(map(repr, unknown))}")
    for required in ("metric", "start", "change"):
        if required not in raw:
            raise SpecError(f"{label}: field '{required}' is required")
    metric = raw["metric"]
    if metric not in METRICS:
        raise SpecError(f"{label}: field 'metric': unknown metric {metric!r} (known: {', '.join(METRICS)})")
    start = _field(label, "start", parse_datetime, raw["start"])
    if "end" in raw and "duration" in raw:
        raise SpecError(f"{label}: give either 'duration' or 'end', not both")
    if "end" in raw:
        end = _field(label, "end", parse_datetime, raw["end"])
        if end <= start:
            raise SpecError(f"{label}: field 'end': must be after start {start}")
    elif "duration" in raw:
        end = start + _field(label, "duration", parse_duration, raw["duration"])
    else:
        raise SpecError(f"{label}: field 'duration' is required (e.g. 45m)")
    change = _field(label, "change", _change, raw["change"])
    if metric in USER_METRICS and change > 0:
        raise SpecError(f"{label}: field 'change': {metric} supports decreases only (use new_users to add)")
    segment = _field(label, "segment", _segment, raw.get("segment"))
    if metric == "new_users" and segment:
        raise SpecError(f"{label}: field 'segment': new_users anomalies take no segment")
    retention = raw.get("retention_days", 2)
    if isinstance(retention, bool) or not isinstance(retention, int) or not 0 <= retention <= 180:
        raise SpecError(f"{label}: field 'retention_days': expected an integer 0..180, got {retention!r}")
    name = str(raw.get("name") or f"{metric} {change:+.0%} at {start:%Y-%m-%d %H:%M}")
    return Anomaly(name, metric, start, end, change, segment, retention)


def parse_anomalies(data: Any) -> AnomalySpec:
    if data is None:
        return AnomalySpec()
    if isinstance(data, Mapping):
        if set(data) != {"anomalies"}:
            raise SpecError("anomaly file: expected a list of anomalies (or a mapping with key 'anomalies')")
        data = data["anomalies"] or []
    if not isinstance(data, list):
        raise SpecError("anomaly file: expected a list of anomalies")
    return AnomalySpec(tuple(parse_anomaly(raw, i) for i, raw in enumerate(data)))


def load_anomalies(path: str | Path) -> AnomalySpec:
    """Read and validate an anomaly YAML file (:class:`SpecError` on any problem)."""
    return load_spec_file(path, parse_anomalies)
