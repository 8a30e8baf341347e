"""Experiment specs: A/A and A/B windows and the treatment effect on users' CTR, read from YAML.

Example::

    id: feed-ranking-2026-11
    groups: 5                 # users are split into exp_group 0..groups-1 by a hash (fair split)
    aa: {start: 2026-11-02, end: 2026-11-08, groups: [2, 3]}
    ab:
      start: 2026-11-09       # inclusive day range
      end: 2026-11-15
      control: 1
      treatment: 2
      effect: {type: polarize, share: 0.5, up: 1.5}   # or {type: ctr_lift, lift: 0.05}

During the A/B days every like of a treatment user is drawn with their CTR × multiplier:
``ctr_lift`` multiplies everyone's CTR by ``1 + lift``; ``polarize`` multiplies a hashed ``share`` of
the treatment users by ``up`` and the rest by ``(1 − share·up)/(1 − share)`` so the mean CTR barely
moves while the per-user distribution splits. The A/A window generates nothing special: it only
documents which groups the A/A analysis compares.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedpulse.specfile import SpecError, load_spec_file

EFFECT_TYPES = ("polarize", "ctr_lift")


@dataclass(frozen=True)
class Effect:
    type: str
    lift: float = 0.0
    share: float = 0.5
    up: float = 1.5

    @property
    def down(self) -> float:
        return (1 - self.share * self.up) / (1 - self.share)


@dataclass(frozen=True)
class AAWindow:
    start: dt.date
    end: dt.date
    groups: tuple[int, int] = (2, 3)


@dataclass(frozen=True)
class ABWindow:
    start: dt.date
    end: dt.date
    control: int
    treatment: int
    effect: Effect

    def covers(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class ExperimentSpec:
    id: str
    groups: int = 5
    aa: AAWindow | None = None
    ab: ABWindow | None = None


def _date(label: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise SpecError(f"{label}: expected a date like 2026-11-09, got {value!r}") from None


def _number(label: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo < value < hi:
        raise SpecError(f"{label}: expected a number in ({lo:g}, {hi:g}), got {value!r}")
    return float(value)


def _group(label: str, value: Any, groups: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < groups:
        raise SpecError(f"{label}: expected a group id 0..{groups - 1}, got {value!r}")
    return value


def _mapping(label: str, value: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{label}: expected a mapping, got {value!r}")
    unknown = sorted(set(map(str, value)) - allowed)
    if unknown:
        raise SpecError(f"{label}: unknown field(s) {', '.join(map(repr, unknown))}")
    return value


def _window(label: str, raw: Mapping[str, Any]) -> tuple[dt.date, dt.date]:
    for key in ("start", "end"):
        if key not in raw:
            raise SpecError(f"{label}.{key}: is required")
    start, end = _date(f"{label}.start", raw["start"]), _date(f"{label}.end", raw["end"])
    if end < start:
        raise SpecError(f"{label}.end: {end} is before start {start}")
    return start, end


def _effect(label: str, raw: Any) -> Effect:
    raw = _mapping(label, raw, {"type", "lift", "share", "up"})
    kind = raw.get("type")
    if kind not in EFFECT_TYPES:
        raise SpecError(f"{label}.type: expected one of {', '.join(EFFECT_TYPES)}, got {kind!r}")
    if kind == "ctr_lift":
        if "lift" not in raw:
            raise SpecError(f"{label}.lift: is required for ctr_lift (e.g. 0.05 = +5 %)")
        return Effect(kind, lift=_number(f"{label}.lift", raw["lift"], -1, 10))
    share = _number(f"{label}.share", raw.get("share", 0.5), 0, 1)
    up = _number(f"{label}.up", raw.get("up", 1.5), 1, 20)
    if share * up >= 1:
        raise SpecError(f"{label}: share × up must be < 1 (the others' multiplier would be ≤ 0)")
    return Effect(kind, share=share, up=up)


def parse_experiment(data: Any) -> ExperimentSpec:
    raw = _mapping("experiment", data, {"id", "groups", "aa", "ab"})
    if not raw.get("id"):
        raise SpecError("experiment.id: is required")
    groups = raw.get("groups", 5)
    if isinstance(groups, bool) or not isinstance(groups, int) or not 2 <= groups <= 5:
        raise SpecError(f"experiment.groups: expected the number of groups 2..5, got {groups!r}")
    aa = ab = None
    if raw.get("aa") is not None:
        a = _mapping("experiment.aa", raw["aa"], {"start", "end", "groups"})
        start, end = _window("experiment.aa", a)
        pair = a.get("groups", [2, 3])
        if not isinstance(pair, list) or len(pair) != 2 or len(set(map(str, pair))) != 2:
            raise SpecError(f"experiment.aa.groups: expected two different groups like [2, 3], got {pair!r}")
        aa = AAWindow(start, end, tuple(_group("experiment.aa.groups", g, groups) for g in pair))  # type: ignore[arg-type]
    if raw.get("ab") is not None:
        b = _mapping("experiment.ab", raw["ab"], {"start", "end", "control", "treatment", "effect"})
        start, end = _window("experiment.ab", b)
        for key in ("control", "treatment", "effect"):
            if key not in b:
                raise SpecError(f"experiment.ab.{key}: is required")
        control = _group("experiment.ab.control", b["control"], groups)
        treatment = _group("experiment.ab.treatment", b["treatment"], groups)
        if control == treatment:
            raise SpecError("experiment.ab.treatment: must differ from control")
        ab = ABWindow(start, end, control, treatment, _effect("experiment.ab.effect", b["effect"]))
    return ExperimentSpec(str(raw["id"]), groups, aa, ab)


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment YAML file (:class:`SpecError` on any problem)."""
    return load_spec_file(path, parse_experiment)
