"""Dashboards as code: the compact YAML in ``dashboards/superset/`` → Superset's import bundle.

The YAML names things by key (a dataset ``audience_daily``, a chart ``users_by_service``); each
object's Superset uuid is derived from its kind and key (uuid5), so a re-import updates the same
object and a key that leaves the YAML names an object the importer then deletes. Every object is
marked ``is_managed_externally``: Superset shows it read-only, and the importer knows which
objects are its own.

Files: ``database.yaml`` (the connection, without host or password: those come from
``CLICKHOUSE_*`` at import), ``datasets.yaml``, ``dashboards/*.yaml`` (a dashboard with its charts,
its layout and its native filters).
"""

from __future__ import annotations

import io
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

NAMESPACE = uuid.UUID("5b0e3a51-3c5e-4f0c-9a55-f33d9a15e018")  # fixed: uuids stay stable across imports
VERSION = "1.0.0"
EXTERNAL_URL = "feedpulse:dashboards/superset"
BUNDLE_ROOT = "feedpulse_bundle"
NO_FILTER = "No filter"
VIZ = {
    "line": "echarts_timeseries_line",
    "bar": "echarts_timeseries_bar",
    "area": "echarts_area",
    "big_number": "big_number",
    "big_number_total": "big_number_total",
    "table": "table",
    "pie": "pie",
}
TIMESERIES = {"line", "bar", "area"}
FILTER_KEYS = {
    "time": {"key", "type", "name", "description", "exclude", "default"},
    "select": {"key", "type", "name", "description", "exclude", "default", "dataset", "column", "required", "multi"},
}


def object_uuid(kind: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


@dataclass(frozen=True)
class Connection:
    """Where the database points at import time (never stored in the YAML)."""

    host: str
    port: int
    user: str
    password: str
    secure: bool = False

    def uri(self, database: str) -> str:
        """The SQLAlchemy URI with the password masked as Superset's export does; the real one
        travels beside the bundle in the import request's ``passwords``."""
        mask = ":XXXXXXXXXX" if self.password else ""
        # Superset draws time axes in UTC and writes time filters as naive literals: with the session
        # in UTC, a literal means the same wall time as the datasets' wall-clock-as-UTC columns
        # (datasets.yaml, metrics_15min), and a Date on a daily axis is midnight UTC, not the eve.
        query = "?session_timezone=UTC" + ("&secure=true" if self.secure else "")
        return f"clickhousedb://{quote(self.user, safe='')}{mask}@{self.host}:{self.port}/{database}{query}"


@dataclass
class Spec:
    database: dict[str, Any]
    datasets: dict[str, dict[str, Any]]
    dashboards: dict[str, dict[str, Any]]
    files: dict[str, Any] = field(default_factory=dict)

    def chart_uuids(self) -> set[str]:
        return {object_uuid("chart", key) for board in self.dashboards.values() for key in board["charts"]}

    def dataset_uuids(self) -> set[str]:
        return {object_uuid("dataset", key) for key in self.datasets}

    def dashboard_uuids(self) -> set[str]:
        return {object_uuid("dashboard", key) for key in self.dashboards}

    def database_uuid(self) -> str:
        return object_uuid("database", self.database["key"])


def load(directory: Path) -> Spec:
    """Read and check the YAML: every chart's dataset, metrics and layout entries must exist."""
    database = yaml.safe_load((directory / "database.yaml").read_text())
    datasets = yaml.safe_load((directory / "datasets.yaml").read_text())["datasets"]
    dashboards = {
        path.stem: yaml.safe_load(path.read_text()) for path in sorted((directory / "dashboards").glob("*.yaml"))
    }
    spec = Spec(database, datasets, dashboards)
    for key, data in datasets.items():
        _check_dataset(key, data)
    for key, board in dashboards.items():
        _check_dashboard(spec, key, board)
    return spec


class SpecError(ValueError):
    """The dashboards YAML is inconsistent; the message names the place."""


def _check_dataset(key: str, data: dict[str, Any]) -> None:
    # ClickHouse resolves a SELECT alias anywhere in the query: a metric labelled `views` next to
    # `if(sum(views) = 0, …)` puts an aggregate inside an aggregate (Code 184).
    clashes = sorted(set(data.get("metrics") or {}) & set(data["columns"]))
    if clashes:
        raise SpecError(f"dataset {key}: metrics named like columns {clashes} (ClickHouse would read the alias)")
    for name, metric in (data.get("metrics") or {}).items():
        # An unquoted `sumIf(a, b)` in a YAML flow mapping is cut at its comma: `sumIf(a`.
        expression = str(metric.get("expression", ""))
        if not expression or expression.count("(") != expression.count(")"):
            raise SpecError(
                f"dataset {key}, metric {name}: expression {expression!r} is empty or unbalanced (quote it)"
            )
    if data.get("time_column") and data["time_column"] not in data["columns"]:
        raise SpecError(f"dataset {key}: time_column {data['time_column']!r} is not among its columns")


def _check_dashboard(spec: Spec, key: str, board: dict[str, Any]) -> None:
    charts = board.get("charts") or {}
    laid_out = [name for row in board.get("rows", []) for name in row]
    for name in laid_out:
        if name not in charts:
            raise SpecError(f"dashboard {key}: row names chart {name!r} that it does not define")
    for name in charts:
        if name not in laid_out:
            raise SpecError(f"dashboard {key}: chart {name!r} is in no row")
    for name, chart in charts.items():
        dataset = spec.datasets.get(chart["dataset"])
        if dataset is None:
            raise SpecError(f"dashboard {key}, chart {name}: unknown dataset {chart['dataset']!r}")
        known = set(dataset.get("metrics") or {})
        for metric in _chart_metrics(chart):
            if metric not in known:
                raise SpecError(f"dashboard {key}, chart {name}: dataset {chart['dataset']} has no metric {metric!r}")
        if chart["type"] not in VIZ:
            raise SpecError(f"dashboard {key}, chart {name}: unknown type {chart['type']!r} (one of {sorted(VIZ)})")
    for flt in board.get("filters", []):
        extra = sorted(set(flt) - FILTER_KEYS[flt.get("type", "")]) if flt.get("type") in FILTER_KEYS else None
        if extra is None:
            raise SpecError(f"dashboard {key}, filter {flt.get('key')}: type must be one of {sorted(FILTER_KEYS)}")
        if extra:
            raise SpecError(f"dashboard {key}, filter {flt['key']}: unknown fields {extra}")
        if flt["type"] == "select" and not isinstance(flt.get("default", []), list):
            raise SpecError(f"dashboard {key}, filter {flt['key']}: default must be a list of values")
        unknown = sorted(set(flt.get("exclude", [])) - set(charts))
        if unknown:
            raise SpecError(f"dashboard {key}, filter {flt['key']}: excludes charts it does not define: {unknown}")
        if flt["type"] == "select" and flt["dataset"] not in spec.datasets:
            raise SpecError(f"dashboard {key}, filter {flt['key']}: unknown dataset {flt['dataset']!r}")


def _chart_metrics(chart: dict[str, Any]) -> list[str]:
    return list(chart.get("metrics") or []) + ([chart["metric"]] if chart.get("metric") else [])


# --- the bundle ---------------------------------------------------------------------------------


def _managed() -> dict[str, Any]:
    return {"is_managed_externally": True, "external_url": EXTERNAL_URL}


def database_yaml(spec: Spec, connection: Connection) -> dict[str, Any]:
    db = spec.database
    return {
        "database_name": db["database_name"],
        "sqlalchemy_uri": connection.uri(db.get("database", "analytics")),
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {"allows_virtual_table_explore": True},
        "uuid": spec.database_uuid(),
        "version": VERSION,
        **_managed(),
    }


def dataset_yaml(spec: Spec, key: str) -> dict[str, Any]:
    data = spec.datasets[key]
    time_column = data.get("time_column")
    columns = [
        {
            "column_name": name,
            "verbose_name": None,
            "is_dttm": name == time_column or type_.startswith(("Date", "Nullable(Date")),
            "is_active": True,
            "type": type_,
            "groupby": True,
            "filterable": True,
            "expression": None,
            "description": None,
            "python_date_format": None,
            "extra": {},
        }
        for name, type_ in data["columns"].items()
    ]
    metrics = [
        {
            "metric_name": name,
            "verbose_name": metric.get("label", name),
            "metric_type": None,
            "expression": metric["expression"],
            "description": metric.get("description"),
            "d3format": metric.get("format"),
            "extra": {},
            "warning_text": None,
        }
        for name, metric in (data.get("metrics") or {}).items()
    ]
    return {
        "table_name": key if data.get("sql") else data["table"],
        "main_dttm_col": time_column,
        "description": data.get("description"),
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": None,
        "schema": data["schema"],
        "sql": data.get("sql"),
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": object_uuid("dataset", key),
        "metrics": metrics,
        "columns": columns,
        "version": VERSION,
        "database_uuid": spec.database_uuid(),
        **_managed(),
    }


def _time_filter(chart: dict[str, Any], time_column: str | None) -> list[dict[str, Any]]:
    filters = [
        {"clause": "WHERE", "expressionType": "SQL", "sqlExpression": where, "subject": None}
        for where in chart.get("where", [])
    ]
    if time_column:
        filters.append(
            {
                "clause": "WHERE",
                "expressionType": "SIMPLE",
                "subject": time_column,
                "operator": "TEMPORAL_RANGE",
                "comparator": chart.get("time_range", NO_FILTER),
            }
        )
    return filters


def chart_params(spec: Spec, chart: dict[str, Any]) -> dict[str, Any]:
    """Superset's form data for one chart of the compact YAML."""
    dataset = spec.datasets[chart["dataset"]]
    kind = chart["type"]
    time_column = dataset.get("time_column")
    params: dict[str, Any] = {
        "viz_type": VIZ[kind],
        "adhoc_filters": _time_filter(chart, time_column),
        "time_range": chart.get("time_range", NO_FILTER),
        "row_limit": chart.get("row_limit", 10_000),
        "extra_form_data": {},
        "dashboards": [],
    }
    number_format = chart.get("format", "SMART_NUMBER")
    if kind in TIMESERIES:
        params.update(
            x_axis=chart.get("x_axis", time_column),
            time_grain_sqla=chart.get("time_grain", "P1D"),
            metrics=chart["metrics"],
            groupby=chart.get("groupby", []),
            order_desc=True,
            rich_tooltip=True,
            show_legend=True,
            legendType="scroll",
            legendOrientation="top",
            y_axis_format=number_format,
            x_axis_time_format="smart_date",
            truncateXAxis=True,
            truncate_metric=True,
            comparison_type="values",
            time_compare=chart.get("time_compare", []),
            stack="Stack" if chart.get("stacked") else None,
            seriesType="line",
            markerEnabled=chart.get("markers", False),
        )
    elif kind == "big_number":
        params.update(
            metric=chart["metric"],
            x_axis=time_column,
            time_grain_sqla=chart.get("time_grain", "P1D"),
            show_trend_line=True,
            start_y_axis_at_zero=True,
            y_axis_format=number_format,
            header_font_size=0.4,
            subheader_font_size=0.15,
            compare_lag=chart.get("compare_lag", 7),
            compare_suffix=chart.get("compare_suffix", "week over week"),
        )
    elif kind == "big_number_total":
        params.update(metric=chart["metric"], y_axis_format=number_format, header_font_size=0.4)
    elif kind == "table":
        params.update(
            query_mode="aggregate",
            groupby=chart.get("groupby", []),
            metrics=chart["metrics"],
            all_columns=[],
            percent_metrics=[],
            order_desc=True,
            table_timestamp_format="smart_date",
            server_pagination=False,
            show_cell_bars=True,
            # Each column in its metric's own format (counts and a ratio side by side).
            column_config={
                m: {"d3NumberFormat": (dataset["metrics"][m].get("format") or number_format)} for m in chart["metrics"]
            },
        )
    elif kind == "pie":
        params.update(
            groupby=chart.get("groupby", []),
            metric=chart["metric"],
            show_legend=True,
            show_labels=True,
            label_type="key_percent",
            number_format=number_format,
        )
    return params


def chart_yaml(spec: Spec, key: str, chart: dict[str, Any]) -> dict[str, Any]:
    return {
        "slice_name": chart["title"],
        "description": chart.get("description"),
        "certified_by": None,
        "certification_details": None,
        "viz_type": VIZ[chart["type"]],
        "params": chart_params(spec, chart),
        "query_context": None,
        "cache_timeout": None,
        "uuid": object_uuid("chart", key),
        "version": VERSION,
        "dataset_uuid": object_uuid("dataset", chart["dataset"]),
        **_managed(),
    }


def _position(board: dict[str, Any], chart_ids: dict[str, int]) -> dict[str, Any]:
    """Superset's layout tree: a header, the grid, one row per YAML row, a chart per entry."""
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": board["title"]}},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
    }
    for index, row in enumerate(board["rows"]):
        row_id = f"ROW-{index}"
        position["GRID_ID"]["children"].append(row_id)
        children = []
        for name in row:
            chart = board["charts"][name]
            chart_node = f"CHART-{name}"
            children.append(chart_node)
            position[chart_node] = {
                "type": "CHART",
                "id": chart_node,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {
                    "width": chart.get("width", 12 // len(row)),
                    "height": chart.get("height", 50),
                    "chartId": chart_ids[name],
                    "uuid": object_uuid("chart", name),
                    "sliceName": chart["title"],
                },
            }
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": children,
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
    return position


def _native_filter(board_key: str, flt: dict[str, Any], board: dict[str, Any], chart_ids: dict[str, int]):
    excluded = [chart_ids[name] for name in flt.get("exclude", [])]
    base = {
        "id": native_filter_id(board_key, flt["key"]),
        "name": flt["name"],
        "cascadeParentIds": [],
        "scope": {"rootPath": ["ROOT_ID"], "excluded": excluded},
        "type": "NATIVE_FILTER",
        "description": flt.get("description", ""),
        "chartsInScope": [chart_ids[name] for name in board["charts"] if chart_ids[name] not in excluded],
        "tabsInScope": [],
    }
    if flt["type"] == "time":
        return {
            **base,
            "filterType": "filter_time",
            "targets": [{}],
            "controlValues": {"enableEmptyFilter": False},
            "defaultDataMask": time_data_mask(flt.get("default", NO_FILTER)),
        }
    default = flt.get("default") or []
    return {
        **base,
        "filterType": "filter_select",
        "targets": [{"datasetUuid": object_uuid("dataset", flt["dataset"]), "column": {"name": flt["column"]}}],
        "controlValues": {
            # required: the filter always holds a value (e.g. one slice of metrics_15min at a time)
            "enableEmptyFilter": bool(flt.get("required", False)),
            "defaultToFirstItem": False,
            "multiSelect": bool(flt.get("multi", True)),
            "searchAllOptions": False,
            "inverseSelection": False,
        },
        "defaultDataMask": select_data_mask(flt["column"], default)
        if default
        else {"extraFormData": {}, "filterState": {}},
    }


def select_data_mask(column: str, values: list[str]) -> dict[str, Any]:
    """A select filter's state choosing ``values`` (a default, or a link's pre-selection)."""
    return {
        "extraFormData": {"filters": [{"col": column, "op": "IN", "val": list(values)}]},
        "filterState": {"value": list(values)},
    }


def time_data_mask(time_range: str) -> dict[str, Any]:
    """A time filter's state for ``time_range`` (Superset's "start : end" text)."""
    return {"extraFormData": {"time_range": time_range}, "filterState": {"value": time_range}}


def native_filter_id(board_key: str, filter_key: str) -> str:
    return f"NATIVE_FILTER-{board_key}-{filter_key}"


def dashboard_yaml(board_key: str, board: dict[str, Any]) -> dict[str, Any]:
    # chartId values here are only placeholders that link the layout to the filters' scopes; the
    # import replaces them with the ids of the charts it found by uuid.
    chart_ids = {name: index + 1 for index, name in enumerate(board["charts"])}
    metadata = {
        "color_scheme": "supersetColors",
        "refresh_frequency": 0,
        "timed_refresh_immune_slices": [],
        "expanded_slices": {},
        "label_colors": {},
        "shared_label_colors": [],
        "cross_filters_enabled": False,
        "native_filter_configuration": [
            _native_filter(board_key, flt, board, chart_ids) for flt in board.get("filters", [])
        ],
    }
    return {
        "dashboard_title": board["title"],
        "description": board.get("description"),
        "css": "",
        "slug": board.get("slug", f"feedpulse-{board_key}"),
        "certified_by": None,
        "certification_details": None,
        "published": True,
        "uuid": object_uuid("dashboard", board_key),
        "position": _position(board, chart_ids),
        "metadata": metadata,
        "version": VERSION,
        **_managed(),
    }


# Superset's import endpoints and the metadata type each one checks. Each command overwrites only
# its own kind (the dashboard import keeps existing charts, datasets and databases as they are), so
# the importer posts the same bundle to each in dependency order.
IMPORT_KINDS = {"database": "Database", "dataset": "SqlaTable", "chart": "Slice", "dashboard": "Dashboard"}


def bundle(spec: Spec, connection: Connection, kind: str = "dashboard") -> tuple[bytes, dict[str, str]]:
    """The import ZIP (Superset's export layout) for one import endpoint, and the ``passwords`` field
    that goes with it."""
    files: dict[str, Any] = {
        "metadata.yaml": {"version": VERSION, "type": IMPORT_KINDS[kind], "timestamp": "2026-01-01T00:00:00+00:00"},
        "databases/feedpulse.yaml": database_yaml(spec, connection),
    }
    for key in spec.datasets:
        files[f"datasets/feedpulse/{key}.yaml"] = dataset_yaml(spec, key)
    for board_key, board in spec.dashboards.items():
        for key, chart in board["charts"].items():
            files[f"charts/{key}.yaml"] = chart_yaml(spec, key, chart)
        files[f"dashboards/{board_key}.yaml"] = dashboard_yaml(board_key, board)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"{BUNDLE_ROOT}/{name}", yaml.safe_dump(content, sort_keys=False))
    passwords = {"databases/feedpulse.yaml": connection.password} if connection.password else {}
    spec.files = files
    return buffer.getvalue(), passwords
