"""Alert lifecycle: fire, repeat after the interval, resolve after N normal buckets, silences,
no-data, restarts (state in SQLite), no double notification for a bucket."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from feedpulse.alerts.lifecycle import AlertStore, parse_matcher, process_bucket
from feedpulse.durations import parse_duration

T0 = dt.datetime(2026, 11, 20, 12, 0)
STEP = dt.timedelta(minutes=15)


@dataclass
class Ev:
    bucket: dt.datetime
    metric: str
    slice: str
    status: str


def run(store, i, statuses, slice_="total", **kw):
    bucket = T0 + i * STEP
    return process_bucket(store, [Ev(bucket, m, slice_, s) for m, s in statuses.items()], **kw)


def test_fire_group_repeat_resolve(tmp_path):
    store = AlertStore(tmp_path / "a.sqlite")
    first = run(store, 0, {"views": "firing", "likes": "firing", "ctr": "ok"})
    assert [(n.kind, sorted(e.metric for e in n.evaluations)) for n in first] == [("firing", ["likes", "views"])]
    assert run(store, 1, {"views": "firing", "likes": "firing"}) == []  # still firing, within repeat interval
    repeat = run(store, 8, {"views": "firing", "likes": "ok"})  # 2 h after the first message
    assert [(n.kind, [e.metric for e in n.evaluations]) for n in repeat] == [("repeat", ["views"])]
    assert run(store, 9, {"views": "ok"}) == []
    resolved = run(store, 10, {"views": "ok", "likes": "ok"})
    assert {(n.kind, e.metric) for n in resolved for e in n.evaluations} == {
        ("resolved", "views"),
        ("resolved", "likes"),
    }


def test_same_bucket_twice_and_restart_do_not_notify_again(tmp_path):
    path = tmp_path / "a.sqlite"
    assert run(AlertStore(path), 0, {"messages": "no_data"})[0].kind == "firing"
    assert run(AlertStore(path), 0, {"messages": "no_data"}) == []  # same bucket, new process
    assert run(AlertStore(path), 1, {"messages": "no_data"}) == []  # still firing after a restart


def test_silence_mutes_and_expires(tmp_path):
    store = AlertStore(tmp_path / "a.sqlite")
    silence = store.add_silence("views:os:iOS", dt.timedelta(hours=1), now=T0)
    assert run(store, 0, {"views": "firing"}, slice_="os:iOS") == []
    assert run(store, 0, {"views": "firing"}, slice_="os:Android")[0].kind == "firing"  # other slice not muted
    assert [s.id for s in store.silences(T0)] == [silence.id]
    notes = run(store, 5, {"views": "firing"}, slice_="os:iOS")  # silence over: the still-firing alert speaks up
    assert notes and notes[0].kind == "repeat"
    assert store.remove_silence(silence.id) and store.silences() == []


def test_parsers_name_the_problem():
    assert parse_duration("2h") == dt.timedelta(hours=2)
    assert parse_matcher("views:os:iOS") == ("views", "os:iOS")
    with pytest.raises(ValueError, match="45m, 2h, 1d"):
        parse_duration("two hours")
    with pytest.raises(ValueError, match="METRIC"):
        parse_matcher(":os")


def test_no_data_notification_survives_the_sensor_to_run_payload():
    """The sensor hands a notification to alert_job as JSON; a no-data bucket's NaN z/value travel
    as null and must come back as NaN (alert_job crashed on abs(None) for every no-data alert)."""
    import math

    import pandas as pd

    from feedpulse.alerts.detector import Evaluation
    from feedpulse.alerts.lifecycle import Notification
    from feedpulse.alerts.service import from_payload, to_payload

    bucket = dt.datetime(2025, 6, 10, 12, 15)
    nan = float("nan")
    no_data = Evaluation(pd.Timestamp(bucket), "views", "total", nan, 812.0, 600.0, 1000.0, nan, nan, "no_data", "gap")
    firing = Evaluation(pd.Timestamp(bucket), "likes", "total", 10.0, 90.0, 60.0, 120.0, -6.5, -0.89, "firing", "drop")
    back = from_payload(to_payload(Notification("firing", "total", bucket, [no_data, firing])))
    restored, other = back.evaluations
    assert math.isnan(restored.z) and math.isnan(restored.value) and math.isnan(restored.deviation)
    assert (restored.expected, restored.status, restored.bucket) == (812.0, "no_data", pd.Timestamp(bucket))
    assert other == firing
    assert max(back.evaluations, key=lambda e: abs(e.z) if e.z == e.z else 0.0) == firing  # send()'s lead
