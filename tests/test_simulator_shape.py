"""Issue 20: at scale 1, any simulated week has the real app's per-user shape (±20 %) while the daily
magnitudes stay within their ranges (±10 %).

Two different weeks (starting on different weekdays and months) with two seeds that the model was
not tuned on: the calibration (``feedpulse.simulator.model.calibrate``) is a numpy Monte Carlo with
its own seed 7 and never runs the SQL generator; these SQL seeds (101, 202) were chosen before the
first run and not changed afterwards.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from feedpulse.simulator import simulate
from feedpulse.simulator.model import SHAPE_TARGETS, exact_quantile, shape_figures
from feedpulse.simulator.report import measure, measure_shape

pytestmark = pytest.mark.integration

WEEKS = [(dt.date(2026, 3, 2), 101), (dt.date(2026, 8, 20), 202)]  # a Monday in March, a Thursday in August

# Rows of ``simulate --report`` that are daily magnitudes (the weekly and new-user rows need a longer range).
DAILY = (
    "app DAU", "feed DAU", "messenger DAU", "both services DAU", "views/day", "likes/day", "CTR",
    "messages/day", "messages per messenger user", "feed users per 15 min", "messenger users per 15 min",
    "messages per 15 min",
)  # fmt: skip


@pytest.fixture(scope="module", params=WEEKS, ids=lambda w: f"{w[0]}-seed{w[1]}")
def week(request, ch_client) -> tuple[str, dt.date]:
    start, seed = request.param
    database = f"sim_shape_{seed}"
    simulate(ch_client, start=start, days=7, scale=1.0, seed=seed, database=database)
    return database, start


def test_per_user_shape_within_20_percent_of_the_real_app(ch_client, week) -> None:
    database, start = week
    rows = measure_shape(ch_client, start=start, days=7, database=database)
    assert [r.figure for r in rows] == list(SHAPE_TARGETS)
    off = {r.figure: (r.weeks, r.real) for r in rows if not r.ok}
    assert not off, f"outside ±20 % of the real app: {off}"


def test_daily_magnitudes_within_their_ranges(ch_client, week) -> None:
    database, start = week
    rows = measure(ch_client, start=start, days=7, scale=1.0, database=database)
    daily = [r for r in rows if r.figure.startswith(DAILY)]
    assert len(daily) == 14  # incl. the messenger weekday cycle (max/min over the week)
    off = {r.figure: (round(r.measured, 4), r.low, r.high) for r in daily if not r.ok}
    assert not off, f"daily magnitudes outside their range: {off}"


def test_shape_sql_matches_an_independent_computation(ch_client, week) -> None:
    """The report's SQL figures equal numpy's on the raw per-user counts of the same week."""
    database, start = week
    counts = np.array(
        ch_client.query(
            f"SELECT countIf(action = 'view') AS v, countIf(action = 'like') FROM {database}.feed_actions "
            "WHERE exp_group IN (2, 3) AND toDate(time) >= {a:Date} AND toDate(time) < {b:Date} "
            "GROUP BY user_id HAVING v > 0",
            parameters={"a": start, "b": start + dt.timedelta(days=7)},
        ).result_rows
    )
    expected = shape_figures(counts[:, 0], counts[:, 1])
    measured = {r.figure: r.weeks[0] for r in measure_shape(ch_client, start=start, days=7, database=database)}
    assert measured == pytest.approx(expected, rel=1e-9)
    assert measured["views q10 / median"] == exact_quantile(counts[:, 0], 0.1) / exact_quantile(counts[:, 0], 0.5)
