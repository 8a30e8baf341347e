"""Links from alerts and reports into the Superset dashboards, with their filters pre-set.

When ``FEEDPULSE_SUPERSET_URL`` is set, an alert links to the 15-minute dashboard with the alert's
slice and the bucket's day selected, and a report to its dashboard (feed → Feed, app → Audience)
over the four weeks ending the report's day. Superset reads a dashboard's native filter state from
the ``native_filters`` URL parameter in Rison (what its own "copy permalink" encodes before it
stores a key); ``prison`` is the Rison encoder Superset itself uses. Slugs and filter ids come from
the dashboards YAML, so a renamed filter cannot leave links pointing at nothing. Without the
setting these return None and callers link to the static page.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any
from urllib.parse import quote

import prison

from feedpulse.config import settings
from feedpulse.superset import home, spec

ALERT_DASHBOARD = "alerts"
REPORT_DASHBOARDS = {"feed": "feed", "app": "audience"}
REPORT_WINDOW_DAYS = 28


@cache
def _spec() -> spec.Spec:
    return spec.load(home.SPEC_DIR)


def superset_url() -> str | None:
    return settings().superset_url


def dashboard_link(base: str, board_key: str, state: dict[str, dict[str, Any]]) -> str:
    """``base``'s dashboard ``board_key`` with native filters (by YAML key) set to ``state``."""
    board = _spec().dashboards[board_key]
    known = {flt["key"] for flt in board.get("filters", [])}
    unknown = sorted(set(state) - known)
    if unknown:
        raise KeyError(f"dashboard {board_key} has no filters {unknown} (it has {sorted(known)})")
    masks = {}
    for key, mask in state.items():
        filter_id = spec.native_filter_id(board_key, key)
        masks[filter_id] = {"id": filter_id, **mask}
    slug = board.get("slug", f"feedpulse-{board_key}")
    return f"{base}/superset/dashboard/{slug}/?native_filters={quote(prison.dumps(masks), safe='')}"


def _day_range(first: dt.date, last: dt.date) -> str:
    """Superset's time range covering the days ``first`` … ``last`` (its end is exclusive)."""
    return f"{first:%Y-%m-%d}T00:00:00 : {last + dt.timedelta(days=1):%Y-%m-%d}T00:00:00"


def alert_link(slice_label: str, bucket: dt.datetime, base: str | None = None) -> str | None:
    """The 15-minute dashboard on the alert's slice and the bucket's day (the data's wall time)."""
    base = base or superset_url()
    if not base:
        return None
    state = {
        "date": spec.time_data_mask(_day_range(bucket.date(), bucket.date())),
        "slice": spec.select_data_mask("slice", [slice_label]),
    }
    return dashboard_link(base, ALERT_DASHBOARD, state)


def report_link(kind: str, day: dt.date, base: str | None = None) -> str | None:
    """The report's dashboard over the four weeks ending ``day``."""
    base = base or superset_url()
    if not base:
        return None
    first = day - dt.timedelta(days=REPORT_WINDOW_DAYS - 1)
    return dashboard_link(base, REPORT_DASHBOARDS[kind], {"date": spec.time_data_mask(_day_range(first, day))})
