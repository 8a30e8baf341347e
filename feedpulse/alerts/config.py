"""Per-metric alert configuration (YAML → pydantic), with errors that name the bad field.

Layout of ``alerts.yaml``::

    completeness_delay_minutes: 5      # evaluate a bucket only this long after it ended
    repeat_interval: 2h                # re-send while still firing (15m … 7d; feedpulse.durations)
    resolve_after_buckets: 2           # normal buckets before "resolved"
    slices: [total, os]                # dimensions (see feedpulse.alerts.series.SLICE_EXPRESSIONS)
    dashboard_url: "http://…/dashboard?metric={metric}"
    detector: {history_days: 14, …}    # DetectorTuning, shared by all metrics
    metrics:
      views:
        direction: both                # both | up | down
        min_expected: 100              # expected volume per bucket below which nothing fires
        min_relative_change: 0.1       # |value/expected − 1| must reach this
        per_user_of: feed_users        # optional: expected = expected views per user × actual users
                                       # (any count: likes per_user_of views ≈ likes per view)
        sensitivity: {z_once: 4, z_twice: 3}
        owners: {total: "@alice", "os:iOS": "@bob", default: "@team"}
        chart_url: "http://…/chart?metric={metric}&slice={slice}&bucket={bucket}"

``load_config(path)`` / ``parse_config(dict)`` raise :class:`ConfigError` whose message names the
field path (``metrics.views.direction: …``).

Everything is validated at load, so that nothing can fail later when an alert is sent (the sensor
requests one run per alert with a ``run_key``: a run that fails at sending is never retried by the
sensor, and the alert would be lost): URL templates are rendered once with sample values (only
``{metric}``, ``{slice}`` and ``{bucket}``; an http(s) URL must come out), at least one metric and
one slice, owners keyed by slices that exist, durations and counts bounded.
"""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from feedpulse.alerts.series import SLICE_EXPRESSIONS
from feedpulse.config import alerts_config_path
from feedpulse.durations import parse_duration
from feedpulse.i18n import Lang
from feedpulse.metrics import definitions

DEFAULT_CONFIG_PATH = Path("alerts.yaml")
TEMPLATE_FIELDS = ("metric", "slice", "bucket")
REPEAT_MIN = dt.timedelta(minutes=15)  # one bucket: the lifecycle cannot repeat more often
REPEAT_MAX = dt.timedelta(days=7)


class ConfigError(ValueError):
    """An invalid alerts configuration; the message names the offending field."""


def check_url_template(template: str | None) -> str | None:
    """``template`` unchanged if it renders to an http(s) URL with only ``{metric}``, ``{slice}`` and
    ``{bucket}``; otherwise a ValueError that says which field or form is wrong."""
    if template is None:
        return None
    if not isinstance(template, str) or not template.strip():
        raise ValueError("must be a URL (or null)")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:  # a lone "{" or "}"
        raise ValueError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    unknown = [name for name in fields if name not in TEMPLATE_FIELDS]
    if unknown:
        shown = ", ".join("{" + name + "}" if name else "{} (positional)" for name in dict.fromkeys(unknown))
        raise ValueError(f"unknown template field(s) {shown}; known: " + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS))
    try:
        rendered = template.format(metric="views", slice="os:iOS", bucket="2024-01-01T00:00")
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"cannot be rendered ({exc})") from None
    if not rendered.startswith(("http://", "https://")) or len(rendered) <= len("https://"):
        raise ValueError(f"must render to an http:// or https:// URL, got {rendered!r}")
    return template


def _owner_key_ok(key: str) -> bool:
    """``default``, ``total``, a slice dimension (``os``) or a dimension's slice (``os:iOS``)."""
    dimension, colon, value = key.partition(":")
    if not colon:
        return key == "default" or key in SLICE_EXPRESSIONS
    return dimension in SLICE_EXPRESSIONS and dimension != "total" and bool(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sensitivity(_Strict):
    """z thresholds: fire on one bucket with |z| ≥ ``z_once`` or two in a row with |z| ≥ ``z_twice``."""

    z_once: float = Field(4.0, gt=0)
    z_twice: float = Field(3.0, gt=0)
    z_sum: float = Field(4.0, gt=0, description="|Σz|/√k over the last k = 2..window buckets (same sign)")
    window: int = Field(4, ge=1, le=12)
    lower_tail: float = Field(
        1.0,
        ge=1.0,
        le=3.0,
        description="downward z is divided by this before the thresholds: log counts have a longer lower tail",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Sensitivity:
        if self.z_twice > self.z_once:
            raise ValueError(f"z_twice ({self.z_twice}) must not exceed z_once ({self.z_once})")
        return self


class MetricConfig(_Strict):
    """How one metric is judged and whom to tag."""

    name: str
    kind: Literal["count", "ratio"] = "count"
    volume_metric: str | None = Field(None, description="denominator of a ratio metric (ctr → views)")
    per_user_of: str | None = Field(
        None,
        description="reference count of a count (views → feed_users, likes → views): predict as expected rate × "
        "actual reference of the bucket unless that bucket's reference is itself anomalous",
    )
    direction: Literal["both", "up", "down"] = "both"
    min_expected: float = Field(50.0, ge=0, description="expected volume (denominator for ratios) needed to fire")
    min_relative_change: float = Field(0.1, ge=0)
    sensitivity: Sensitivity = Sensitivity()
    owners: dict[str, str] = Field(default_factory=dict)
    chart_url: str | None = None
    dashboard_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_title(cls, data: Any) -> Any:
        if isinstance(data, dict) and "title" in data:
            raise ValueError(
                "title: a metric's title comes from its definition (dbt_project/dbt_project.yml vars.metrics); "
                "remove it here"
            )
        return data

    @field_validator("owners")
    @classmethod
    def _mentions(cls, owners: dict[str, str]) -> dict[str, str]:
        for key, value in owners.items():
            if not _owner_key_ok(key):
                raise ValueError(
                    f"owner key {key!r} is not 'default', 'total', a slice dimension or DIMENSION:VALUE; "
                    f"dimensions: {sorted(SLICE_EXPRESSIONS)}"
                )
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"owner for {key!r} must be a non-empty string such as '@alice'")
        return owners

    @field_validator("chart_url", "dashboard_url")
    @classmethod
    def _templates(cls, template: str | None) -> str | None:
        return check_url_template(template)

    @model_validator(mode="after")
    def _ratio_has_volume(self) -> MetricConfig:
        if self.kind == "ratio" and not self.volume_metric:
            raise ValueError("a ratio metric needs volume_metric (its denominator, e.g. views for ctr)")
        return self

    def owner(self, slice_label: str) -> str | None:
        """The @mention for a slice: exact label, then its dimension (``os``), then ``default``."""
        dimension = slice_label.split(":", 1)[0]
        return self.owners.get(slice_label) or self.owners.get(dimension) or self.owners.get("default")

    def links(
        self,
        slice_label: str,
        bucket: dt.datetime,
        dashboard_template: str | None = None,
        fallback_url: str | None = None,
    ) -> dict[str, str]:
        """Rendered ``chart_url`` / ``dashboard_url`` templates (``{metric}``, ``{slice}``, ``{bucket}``,
        checked at load): the metric's own, else ``dashboard_template`` (the file's), else
        ``fallback_url`` — a finished link from outside the config — as it is."""
        values = {"metric": self.name, "slice": slice_label, "bucket": bucket.strftime("%Y-%m-%dT%H:%M")}
        out = {}
        if self.chart_url:
            out["chart"] = self.chart_url.format(**values)
        template = self.dashboard_url or dashboard_template
        if template:
            out["dashboard"] = template.format(**values)
        elif fallback_url:
            out["dashboard"] = fallback_url
        return out


class DetectorTuning(_Strict):
    """Internals of the seasonal detector (defaults tuned on ``feedpulse alerts evaluate``)."""

    history_days: int = Field(14, ge=2, le=35, description="same-slot days in the baseline median")
    min_history_days: int = Field(7, ge=1, description="fewer days ⇒ cold start (safe rules only)")
    slot_halfwidth: int = Field(1, ge=0, le=4, description="±buckets around the slot")
    level_window: int = Field(8, ge=1, description="recent unflagged buckets in the level ratio")
    level_min: float = Field(0.5, gt=0)
    level_max: float = Field(2.0, gt=0)
    exclude_z: float = Field(3.0, gt=0, description="|z| at which a bucket is left out of later baselines")
    max_excluded_run: int = Field(16, ge=1, description="after this many excluded buckets the new level is accepted")
    autoregression: bool = Field(True, description="correct by φ·(previous residual), φ from the last days")
    ar_days: int = Field(4, ge=1)
    ar_max: float = Field(0.8, ge=0, lt=1)
    min_spread_samples: int = Field(8, ge=3)
    spread_floor_factor: float = Field(1.0, gt=0, description="× Poisson/binomial noise, the minimum spread")
    cold_start_change: float = Field(0.5, gt=0, description="cold start: |x/yesterday − 1| that fires")
    per_user_fallback_z: float = Field(
        3.0, gt=0, description="|z| of the users metric from which a per-user metric falls back to its plain baseline"
    )

    @model_validator(mode="after")
    def _consistent(self) -> DetectorTuning:
        if self.min_history_days > self.history_days:
            raise ValueError(f"min_history_days ({self.min_history_days}) > history_days ({self.history_days})")
        if self.level_min >= self.level_max:
            raise ValueError("level_min must be below level_max")
        return self


class AlertsConfig(_Strict):
    """The whole file: global lifecycle settings, slices, detector tuning and the metrics."""

    completeness_delay_minutes: int = Field(5, ge=0, le=24 * 60)
    repeat_interval: dt.timedelta = dt.timedelta(hours=2)
    resolve_after_buckets: int = Field(2, ge=1, le=96)
    slices: list[str] = Field(default_factory=lambda: ["total", "os"])
    dashboard_url: str | None = None
    language: Lang | None = None  # None ⇒ FEEDPULSE_LANGUAGE (feedpulse.i18n: one default for every text)
    detector: DetectorTuning = DetectorTuning()
    metrics: dict[str, MetricConfig]

    @field_validator("repeat_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> dt.timedelta:
        return parse_duration(value, minimum=REPEAT_MIN, maximum=REPEAT_MAX)

    @field_validator("dashboard_url")
    @classmethod
    def _template(cls, template: str | None) -> str | None:
        return check_url_template(template)

    @field_validator("metrics")
    @classmethod
    def _some_metrics(cls, metrics: dict[str, MetricConfig]) -> dict[str, MetricConfig]:
        if not metrics:
            raise ValueError(f"at least one metric is required; known: {_known()}")
        return metrics

    @field_validator("slices")
    @classmethod
    def _known_slices(cls, slices: list[str]) -> list[str]:
        if not slices:
            raise ValueError(
                f"at least one slice dimension is required, e.g. [total]; known: {sorted(SLICE_EXPRESSIONS)}"
            )
        unknown = [s for s in slices if s not in SLICE_EXPRESSIONS]
        if unknown:
            raise ValueError(f"unknown slice dimension(s) {unknown}; known: {sorted(SLICE_EXPRESSIONS)}")
        repeated = sorted({s for s in slices if slices.count(s) > 1})
        if repeated:
            raise ValueError(f"slice dimension(s) listed twice: {repeated}")
        return slices

    @model_validator(mode="before")
    @classmethod
    def _named_metrics(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
            metrics = {}
            catalog = definitions()
            for name, body in data["metrics"].items():
                body = {} if body is None else body
                if isinstance(body, dict) and name in catalog and catalog[name].type == "ratio":
                    # a ratio of the metric layer: judged as a ratio of its denominator's volume
                    body = {"kind": "ratio", "volume_metric": catalog[name].denominator, **body}
                metrics[name] = {**body, "name": name} if isinstance(body, dict) else body
            data = {**data, "metrics": metrics}
        return data

    @model_validator(mode="after")
    def _known_metrics(self) -> AlertsConfig:
        known = _known()
        for name, metric in self.metrics.items():
            if name not in known:
                raise ValueError(
                    f"metrics.{name}: not a column of metrics_15min (a realtime metric of dbt_project.yml "
                    f"vars.metrics, or a count one uses); known: {known}"
                )
            definition = definitions()[name]
            defined_kind = "ratio" if definition.type == "ratio" else "count"
            if metric.kind != defined_kind:
                raise ValueError(
                    f"metrics.{name}.kind: {name} is a {defined_kind} metric in its definition "
                    "(dbt_project.yml vars.metrics); leave kind out"
                )
            if definition.type == "ratio" and metric.volume_metric != definition.denominator:
                raise ValueError(
                    f"metrics.{name}.volume_metric: the ratio's denominator is {definition.denominator!r} "
                    "in its definition; leave volume_metric out"
                )
            if metric.kind == "ratio" and metric.volume_metric and metric.volume_metric not in known:
                raise ValueError(f"metrics.{name}.volume_metric: unknown metric {metric.volume_metric!r}")
            if metric.per_user_of is not None:
                if metric.per_user_of not in known or metric.per_user_of == name:
                    raise ValueError(f"metrics.{name}.per_user_of: unknown or self metric {metric.per_user_of!r}")
                if metric.kind != "count":
                    raise ValueError(f"metrics.{name}.per_user_of: only for count metrics")
        return self


def _known() -> list[str]:
    """The metrics alerts can judge: the columns of metrics_15min (the metric layer's realtime metrics)."""
    return definitions().realtime_columns()


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def parse_config(data: Any, source: str = "alerts config") -> AlertsConfig:
    """Validate a mapping; :class:`ConfigError` names the field (``metrics.views.min_expected: …``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return AlertsConfig.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_location(err['loc'])}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()]
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def load_config(path: str | Path = DEFAULT_CONFIG_PATH) -> AlertsConfig:
    """Read and validate an ``alerts.yaml``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from None
    return parse_config(data, source=str(path))


def configured_config() -> AlertsConfig:
    """The alerts config in use: ``FEEDPULSE_ALERTS_CONFIG`` if set, else :func:`default_config`."""
    path = alerts_config_path()
    return load_config(path) if path else default_config()


def default_config() -> AlertsConfig:
    """The shipped ``alerts.yaml`` (repo root) if present, else the built-in defaults."""
    shipped = Path(__file__).resolve().parents[2] / "alerts.yaml"
    if shipped.is_file():
        return load_config(shipped)
    return parse_config(BUILTIN_DEFAULTS, source="built-in defaults")


BUILTIN_DEFAULTS: dict[str, Any] = {
    "metrics": {
        "feed_users": {"min_expected": 50, "min_relative_change": 0.1},
        "views": {"min_expected": 200, "min_relative_change": 0.1},
        "likes": {"min_expected": 100, "min_relative_change": 0.1},
        "ctr": {"kind": "ratio", "volume_metric": "views", "min_expected": 500, "min_relative_change": 0.08},
        "messenger_users": {"min_expected": 30, "min_relative_change": 0.15},
        "messages": {"min_expected": 30, "min_relative_change": 0.15},
    }
}
