"""The metric layer, read from Python: the `metrics` entries of ``dbt_project/dbt_project.yml``.

The same entries are compiled into SQL by ``dbt_project/macros/metrics.sql`` (the tables
``metrics_daily`` and ``metrics_15min``); Python reads them for what SQL does not carry — titles in
each language, decimals, the direction of "good", which report lists a metric and whether the
dashboard draws it — and to check that alerts.yaml names metrics that exist. docs/metrics.md shows
how to add one. The entries are validated with the same rules as the dbt macro
(tests/test_metric_layer.py feeds both the same broken definitions).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from feedpulse.i18n import Lang

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DIMENSIONS = ("os", "gender", "age", "source", "country", "city", "exp_group")


class MetricDefinitionError(ValueError):
    """The metric definitions cannot be used; the message names the metric and what is wrong."""


class Title(BaseModel):
    model_config = ConfigDict(extra="forbid")
    en: str
    ru: str


class Metric(BaseModel):
    """One entry of `vars.metrics` (see the comment above it in dbt_project.yml)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Title
    type: Literal["count", "users", "ratio"]
    source: Literal["feed", "messages"] | None = None
    filter: str | None = None
    distinct: str | None = None
    where: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    decimals: int = Field(default=0, ge=0, le=6)
    good: Literal["up", "down", "neutral"] = "up"
    realtime: bool = False
    slices: tuple[str, ...] = DIMENSIONS
    reports: tuple[Literal["feed", "app"], ...] = ()
    dashboard: bool = False

    @model_validator(mode="after")
    def _shape(self) -> Metric:
        if self.type == "ratio":
            if not (self.numerator and self.denominator):
                raise ValueError("a ratio needs a numerator and a denominator (names of other metrics)")
        elif self.where is not None:
            if self.type != "users" or self.source is not None:
                raise ValueError("`where` is for users metrics without a source")
        elif self.source is None:
            raise ValueError("source must be feed or messages (or, for a users metric, give `where`)")
        if self.distinct is not None and self.type != "count":
            raise ValueError("`distinct` is for count metrics")
        unknown = [dim for dim in self.slices if dim not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown slice(s) {', '.join(unknown)} (known: {', '.join(DIMENSIONS)})")
        return self

    @property
    def per_user_and_day(self) -> bool:
        """Counted per user and day (`where`, `distinct`): no 15-minute form."""
        return self.where is not None or self.distinct is not None

    def label(self, lang: Lang) -> str:
        return getattr(self.title, lang)


class Metrics(BaseModel):
    """All definitions, in their file order (reports and the dashboard list them in it)."""

    items: dict[str, Metric]

    def __getitem__(self, name: str) -> Metric:
        if name not in self.items:
            raise MetricDefinitionError(f"unknown metric {name!r} (defined: {', '.join(self.items)})")
        return self.items[name]

    def __contains__(self, name: object) -> bool:
        return name in self.items

    def in_report(self, report: str) -> list[Metric]:
        return [m for m in self.items.values() if report in m.reports]

    def on_dashboard(self) -> list[Metric]:
        return [m for m in self.items.values() if m.dashboard]

    def realtime(self) -> list[Metric]:
        return [m for m in self.items.values() if m.realtime]

    def realtime_columns(self) -> list[str]:
        """metrics_15min's metric columns, in the order macros/metrics.sql writes them: the counts of
        the feed, then of messages (realtime ones and the parts of realtime ratios), then the ratios."""
        parts: dict[str, list[str]] = {"feed": [], "messages": []}
        for metric in self.realtime():
            for name in (metric.numerator, metric.denominator) if metric.type == "ratio" else (metric.name,):
                part = self[name]
                if part.source in parts and name not in parts[part.source]:
                    parts[part.source].append(name)
        return [*parts["feed"], *parts["messages"], *(m.name for m in self.realtime() if m.type == "ratio")]

    def bucket_aggregates(self, source: str, user_key: str = "user_id") -> dict[str, str]:
        """name → ClickHouse aggregate over one source's raw events, of the counts metrics_15min takes from
        that source: the formulas of macros/metrics.sql's ``metric_bucket_columns``, for the readers of the
        raw events (the evaluation harness; tests/test_metrics_15min.py checks they equal the model).
        ``user_key``: the arguments a users metric counts distinct (the root-cause cells: ``user_id, <unit>``)."""
        out = {}
        for name in self.realtime_columns():
            metric = self[name]
            if metric.type == "ratio" or metric.source != source:
                continue
            if metric.filter is None:  # the plain aggregates (what metrics_15min computes without a filter)
                out[name] = f"uniqExact({user_key})" if metric.type == "users" else "count()"
            elif metric.type == "users":
                out[name] = f"uniqExactIf({user_key}, ({metric.filter}))"
            else:
                out[name] = f"countIf(({metric.filter}))"
        return out

    def source_of(self, name: str) -> str | None:
        """The event source a metric counts (a ratio: its numerator's); None for `where` metrics."""
        metric = self[name]
        return self[metric.numerator].source if metric.type == "ratio" else metric.source


def parse(raw: object, origin: str = "var metrics") -> Metrics:
    """Validate the `metrics` mapping; every problem is named with its metric."""
    if not isinstance(raw, dict) or not raw:
        raise MetricDefinitionError(f"{origin}: expected a mapping of metric name → definition")
    items: dict[str, Metric] = {}
    problems: list[str] = []
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            problems.append(f"{origin}: metric {name!r}: expected a mapping")
            continue
        try:
            items[name] = Metric(name=name, **entry)
        except ValidationError as error:
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg'].removeprefix('Value error, ')}"
                for e in error.errors()
            )
            problems.append(f"{origin}: metric {name!r}: {details}")
    for metric in items.values():
        if metric.type != "ratio":
            continue
        for side in ("numerator", "denominator"):
            part = getattr(metric, side)
            if part not in raw:
                problems.append(f"{origin}: metric {metric.name!r}: {side} {part!r} is not a metric")
            elif part in items and items[part].type == "ratio":
                problems.append(f"{origin}: metric {metric.name!r}: {side} {part!r} is a ratio (use counts or users)")
        if metric.realtime:
            for part in (metric.numerator, metric.denominator):
                if part in items and items[part].per_user_and_day:
                    problems.append(
                        f"{origin}: metric {metric.name!r} is realtime but {part!r} is counted per user and day "
                        "(`where` or `distinct`): it has no 15-minute form"
                    )
    for metric in items.values():
        if metric.realtime and metric.type != "ratio" and metric.per_user_and_day:
            problems.append(
                f"{origin}: metric {metric.name!r} is realtime but counted per user and day "
                "(`where` or `distinct`): it has no 15-minute form"
            )
    for required in ("views", "likes"):
        entry = items.get(required)
        if entry is None or entry.type != "count" or entry.source != "feed":
            problems.append(
                f"{origin}: {required!r} must be a count metric of source feed "
                "(the slice table daily_slice_metrics sums it)"
            )
    if problems:
        raise MetricDefinitionError("\n".join(problems))
    return Metrics(items=items)


def _project_vars(project_dir: Path | str | None = None) -> tuple[Path, dict]:
    path = Path(project_dir or DBT_PROJECT_DIR) / "dbt_project.yml"
    try:
        project = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as error:
        raise MetricDefinitionError(f"{path}: not found") from error
    except yaml.YAMLError as error:
        raise MetricDefinitionError(f"{path}: not valid YAML ({error})") from error
    return path, project.get("vars") or {}


def load(project_dir: Path | str | None = None) -> Metrics:
    """The definitions of a dbt project (``vars.metrics`` of its dbt_project.yml; default feedpulse's)."""
    path, variables = _project_vars(project_dir)
    return parse(variables.get("metrics"), origin=f"{path.name} vars.metrics")


AGE_BUCKET = re.compile(r"^(\d+)-(\d+)$")
AGE_OPEN = re.compile(r"^(\d+)\+$")


def age_bucket_sql(column: str = "age", project_dir: Path | str | None = None) -> str:
    """The age slice's label of ``column`` from var age_buckets: the expression of the dbt macro
    ``age_bucket`` (macros/dimensions.sql), for Python's readers of the raw events (slices, segments)."""
    path, variables = _project_vars(project_dir)
    spec = str(variables.get("age_buckets", "")).strip()
    if spec == "raw":
        return f"ifNull(toString({column}), 'unknown')"
    branches = []
    for part in spec.split(","):
        label = part.strip()
        closed, open_ended = AGE_BUCKET.match(label), AGE_OPEN.match(label)
        if closed and int(closed.group(1)) <= int(closed.group(2)):
            branches.append(f"{column} between {closed.group(1)} and {closed.group(2)}, '{label}'")
        elif open_ended:
            branches.append(f"{column} >= {open_ended.group(1)}, '{label}'")
        else:
            raise MetricDefinitionError(f"{path.name} vars.age_buckets: {label!r} is not a bucket like 18-24 or 55+")
    return f"ifNull(multiIf(isNull({column}), 'unknown', {', '.join(branches)}, 'unknown'), 'unknown')"


@cache
def definitions() -> Metrics:
    """The project's definitions (read once per process)."""
    return load()
