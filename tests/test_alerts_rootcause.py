"""Seeds parsing and aggregation of `alerts evaluate --seeds`, the root-cause harness's planning and
hit rule, and the "where" lines of the alert message (no ClickHouse); the harness's test days (the
session's local endpoint)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from feedpulse.alerts.evaluate import aggregate, parse_seeds
from feedpulse.alerts.explain import explain
from feedpulse.alerts.message import why_lines
from feedpulse.alerts.rootcause import (
    MAGNITUDE_RANGE,
    SHARE_RANGE,
    Outcome,
    Plant,
    _hit,
    _plant_cells,
    anomaly_entries,
    candidate_segments,
    over_seeds,
    plan,
    run_seed,
    summarise,
    wilson,
)
from feedpulse.alerts.segments import load_cells
from feedpulse.scratch import scratch_database
from feedpulse.simulator import simulate
from feedpulse.simulator.anomalies import parse_anomalies


def test_parse_seeds() -> None:
    assert parse_seeds("101-104") == [101, 102, 103, 104]
    assert parse_seeds("42, 7,101-102,7") == [42, 7, 101, 102]
    for bad in ("", "a", "5-3", "1-", "1-2000"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def summary(recall30: float, false_alerts: float) -> dict:
    return {"recall_large_volume_30_plus": recall30, "recall_large_volume_by_magnitude": {"20": None},
            "recall": 0.5, "precision": 0.5, "f1": 0.5, "within_1_bucket": None,
            "false_alerts_per_metric_week": false_alerts}  # fmt: skip


def test_aggregate_mean_and_worst_seed() -> None:
    result = aggregate({"1": {"feedpulse": summary(0.9, 1.0)}, "2": {"feedpulse": summary(0.7, 3.0)}})
    figures = result["feedpulse"]
    assert figures["recall_large_volume_30_plus"] == {"mean": pytest.approx(0.8), "worst": 0.7, "worst_seed": 2}
    assert figures["false_alerts_per_metric_week"] == {"mean": 2.0, "worst": 3.0, "worst_seed": 2}  # more is worse
    assert figures["within_1_bucket"] == {"mean": None, "worst": None, "worst_seed": None}


def test_hit_rule_accepts_the_parents_of_a_planted_pair_only() -> None:
    pair = (("os", "Android"), ("city", "Moscow"))
    assert _hit([pair], pair) and _hit([(("city", "Moscow"),)], pair)
    assert not _hit([(("os", "iOS"),)], pair)
    single = (("os", "Android"),)
    assert _hit([single], single) and not _hit([pair], single)  # a child of a planted single is not a hit


def population() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for os_name, os_w in (("Android", 0.65), ("iOS", 0.35)):
        for source, s_w in (("ads", 0.85), ("organic", 0.15)):
            for city, c_w in (("Moscow", 0.3), ("Kazan", 0.7)):
                rows.append({"os": os_name, "gender": "1", "age": "18-24", "source": source, "country": "Russia",
                             "city": city, "exp_group": str(int(rng.integers(5))),
                             "views": 1000 * os_w * s_w * c_w, "messages": 10 * os_w})  # fmt: skip
    frame = pd.DataFrame(rows)
    return frame.assign(likes=frame["views"] / 5, feed_users=frame["views"] / 20)


def test_plan_draws_segments_in_the_share_range_and_the_simulator_accepts_them() -> None:
    cells = population()
    candidates = candidate_segments(cells, "views")
    assert candidates and all(SHARE_RANGE[0] <= share <= SHARE_RANGE[1] for _, share in candidates)
    shares = dict(candidates)
    assert shares[(("city", "Moscow"),)] == pytest.approx(0.3)
    assert (("os", "Android"), ("source", "ads")) in shares  # 0.5525
    assert (("country", "Russia"), ("city", "Moscow")) not in shares  # redundant pair
    plants = plan({"feed": cells, "message": cells}, dt.date(2024, 3, 12), np.random.default_rng(1), 8, 3)
    assert [p.bucket.strftime("%H:%M") for p in plants[:3]] == ["08:00", "08:45", "09:30"]
    assert all(MAGNITUDE_RANGE[0] <= abs(p.change) <= MAGNITUDE_RANGE[1] for p in plants)
    assert all(p.change < 0 for p in plants if p.metric == "feed_users")  # users can only drop
    assert {len(p.segment) for p in plants} == {1, 2}
    spec = parse_anomalies(anomaly_entries(plants))
    assert len(spec) == 8 and spec.anomalies[0].end - spec.anomalies[0].start == dt.timedelta(minutes=15)
    with pytest.raises(ValueError, match="do not fit"):
        plan({"feed": cells, "message": cells}, dt.date(2024, 3, 12), np.random.default_rng(1), 40, 3)


def test_summary_counts_only_plants_carrying_enough_of_the_deviation() -> None:
    plant = Plant("views", (("os", "Android"),), 0.6, -0.5, dt.datetime(2024, 3, 12, 8))
    outcomes = [
        Outcome(plant, True, -5.0, 0.9, ((("os", "Android"),),), True, True),
        Outcome(plant, False, -1.0, 0.5, ((("os", "iOS"),),), False, True),
        Outcome(plant, False, -0.5, 0.1, ((("os", "iOS"),),), False, False),  # carries 10 %: not in the target
    ]
    result = summarise(outcomes)
    carrying = result["carrying_20_plus"]
    assert {k: carrying[k] for k in ("n", "top1", "top3")} == {"n": 2, "top1": 0.5, "top3": 1.0}
    assert carrying["top1_ci"] == pytest.approx(wilson(1, 2)) and carrying["top3_ci"] == pytest.approx(wilson(2, 2))
    fired = result["carrying_20_plus_fired"]
    assert {k: fired[k] for k in ("n", "top1", "top3")} == {"n": 1, "top1": 1.0, "top3": 1.0}
    assert result["carrying_under_20"]["n"] == 1 and result["fired"] == pytest.approx(1 / 3)
    assert summarise([])["carrying_20_plus"] == {"n": 0, "top1": None, "top3": None, "top1_ci": None,
                                                  "top3_ci": None}  # fmt: skip


def test_wilson_interval_matches_the_closed_form_and_covers() -> None:
    lo, hi = wilson(45, 50)  # textbook value for 45/50: 0.7864 – 0.9565
    assert lo == pytest.approx(0.7864, abs=1e-4) and hi == pytest.approx(0.9565, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0 and 0.69 < wilson(10, 10)[0] < 0.73
    assert wilson(3, 0) is None
    narrow, wide = wilson(80, 100), wilson(8, 10)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    rng = np.random.default_rng(3)  # coverage of the true p = 0.8 at n = 60: about 95 %
    draws = rng.binomial(60, 0.8, size=4000)
    covered = np.mean([lo <= 0.8 <= hi for lo, hi in (wilson(int(k), 60) for k in draws)])
    assert 0.92 <= covered <= 0.98


def test_over_seeds_mean_and_worst_skip_seeds_without_plants() -> None:
    plant = Plant("views", (("os", "Android"),), 0.6, -0.5, dt.datetime(2024, 3, 12, 8))
    hit = Outcome(plant, True, -5.0, 0.9, ((("os", "Android"),),), True, True)
    miss = Outcome(plant, True, -5.0, 0.9, ((("os", "iOS"),),), False, True)
    quiet = Outcome(plant, False, -1.0, 0.9, ((("os", "iOS"),),), False, False)
    per_seed = {"101": summarise([hit, hit, miss, hit]), "102": summarise([miss, quiet]), "103": summarise([quiet])}
    result = over_seeds(per_seed)
    assert result["carrying_20_plus"]["top1"] == {"mean": pytest.approx((0.75 + 0 + 0) / 3), "worst": 0.0,
                                                  "worst_seed": 102, "seeds": 3}  # fmt: skip
    fired = result["carrying_20_plus_fired"]
    assert fired["top1"]["seeds"] == 2 and fired["top1"]["mean"] == pytest.approx(0.375)  # 103 never fired
    assert fired["top3"] == {"mean": 1.0, "worst": 1.0, "worst_seed": 101, "seeds": 2}


def test_where_lines_ru_and_en() -> None:
    base = pd.DataFrame({"os": ["Android", "Android", "iOS"], "source": ["ads", "organic", "ads"],
                         "views": [100.0, 100.0, 200.0]})  # fmt: skip
    now = base.assign(views=[36.0, 100.0, 200.0])
    result = explain(now, base, "views", dimensions=("os", "source"), min_pair_expected=1)
    ru = why_lines(result, "ru")
    assert ru[0] == "Где: Android · source=ads — 100 % отклонения (−64 % в сегменте)"
    assert len(ru) == 3
    assert why_lines(result, "en")[0] == "Where: Android · source=ads — 100% of the deviation (−64% in the segment)"
    uniform = explain(base.assign(views=base["views"] * 0.5), base, "views", dimensions=("os", "source"))
    assert why_lines(uniform, "en") == ["Where: about the same everywhere (no segment stands out)"]
    assert why_lines(None, "ru") == []


def test_where_lines_split_a_count_into_its_driver_and_the_change_per_unit() -> None:
    """Android ads lost 20 % of its users and the rest view 55 % less each: −64 % = 0.8 × 0.45 − 1."""
    base = pd.DataFrame({"os": ["Android", "Android", "iOS"], "source": ["ads", "organic", "ads"],
                         "views": [100.0, 100.0, 200.0], "feed_users": [10.0, 10.0, 20.0]})  # fmt: skip
    now = base.assign(views=[36.0, 100.0, 200.0], feed_users=[8.0, 10.0, 20.0])
    kw = {"dimensions": ("os", "source"), "min_pair_expected": 1, "min_users": 0}
    result = explain(now, base, "views", driver="feed_users", **kw)
    top = result.segments[0]
    assert top.segment == (("os", "Android"), ("source", "ads"))
    assert (top.driver_change, top.unit_change) == (pytest.approx(-0.2), pytest.approx(-0.55))
    assert why_lines(result, "ru")[0] == (
        "Где: Android · source=ads — 100 % отклонения (−64 % в сегменте: пользователей −20 %, на пользователя −55 %)"
    )
    assert why_lines(result, "en")[0] == (
        "Where: Android · source=ads — 100% of the deviation (−64% in the segment: users −20%, per user −55%)"
    )
    # no driver judged (none named, or the cells lack it): the plain line
    assert why_lines(explain(now, base, "views", **kw), "ru")[0].endswith("(−64 % в сегменте)")
    plain = explain(now.drop(columns="feed_users"), base.drop(columns="feed_users"), "views", driver="feed_users", **kw)
    assert plain.driver is None and why_lines(plain, "en")[0].endswith("(−64% in the segment)")


def test_evaluate_refuses_bad_seed_lists_before_connecting() -> None:
    from typer.testing import CliRunner

    from feedpulse.alerts.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--seeds", "110-101"])
    assert result.exit_code == 2 and "--seeds: range '110-101' must go up" in result.output
    several = ["evaluate", "--seeds", "1,2", "--database", "feedpulse_scratch_x"]
    result = CliRunner().invoke(app, several)
    assert result.exit_code == 2 and "single seed" in result.output


def test_report_why_selection_and_setting(monkeypatch) -> None:
    from feedpulse.config import report_why_threshold
    from feedpulse.reports.data import DailySeries
    from feedpulse.reports.why import line, moved

    day = dt.date(2024, 3, 12)
    frame = pd.DataFrame(
        {"feed_users": [100.0, 130.0], "views": [1000.0, 1050.0], "app_users": [10.0, 20.0]},
        index=[day - dt.timedelta(days=1), day],
    )
    assert moved(DailySeries(day, frame), 0.1) == ["feed_users"]  # views +5 %; app_users has no segment cells
    assert moved(DailySeries(day, frame), 0.01) == ["feed_users", "views"]
    base = pd.DataFrame({"os": ["Android", "iOS"], "views": [100.0, 100.0]})
    result = explain(base.assign(views=[50.0, 100.0]), base, "views", dimensions=("os",))
    assert line(result, "ru") == "↳ почему: Android — 100 % изменения (−50 % в сегменте)"
    monkeypatch.delenv("FEEDPULSE_REPORT_WHY_THRESHOLD", raising=False)
    assert report_why_threshold() == 0.1
    for value, expected in (("15%", 0.15), ("0.2", 0.2), ("off", float("inf"))):
        monkeypatch.setenv("FEEDPULSE_REPORT_WHY_THRESHOLD", value)
        assert report_why_threshold() == pytest.approx(expected)
    monkeypatch.setenv("FEEDPULSE_REPORT_WHY_THRESHOLD", "lots")
    with pytest.raises(ValueError, match="FEEDPULSE_REPORT_WHY_THRESHOLD"):
        report_why_threshold()


def test_limit_detector_keeps_the_budget_and_catches_large_changes() -> None:
    """Overdispersed counts (variance 4 × the mean, like views in per-user bursts) around a daily shape: the
    limit model fitted on independent replicas measures the dispersion, keeps the false-alert budget on the
    clean weeks and catches large anomalies; a Poisson-only model would fire on the noise far more often."""
    from feedpulse.alerts.config import default_config
    from feedpulse.alerts.evaluate import (
        StreamData,
        _tail_score,
        fit_limit_model,
        limit_detector,
        plan_and_inject,
        share_of_limit,
    )  # fmt: skip

    config = default_config()
    index = pd.date_range("2024-03-04", periods=96 * 21, freq="15min")
    shape = 400 + 300 * np.sin(np.arange(len(index)) * 2 * np.pi / 96)
    eval_start = 96 * 7

    def draw(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
        return rng.negative_binomial(mean / 3, 1 / 4).astype(float)  # mean `mean`, variance 4 × mean

    per_seed, models = {}, {}
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        level = 1 + 0.2 * seed  # each seed its own population: a level the other seeds do not share
        slices = (("total", 1.0), ("os:iOS", 0.4))
        streams = [StreamData("feed_users", label, pd.Series(draw(rng, shape * f * level), index=index), None)
                   for label, f in slices]  # fmt: skip
        plan_and_inject(streams, eval_start, 8, seed)
        per_seed[seed] = streams
        models[seed] = {
            ("feed_users", label): fit_limit_model(
                np.vstack([draw(rng, shape[eval_start:] * f * level) for _ in range(6)]), None, "count")
            for label, f in slices
        }  # fmt: skip
        assert models[seed][("feed_users", "total")].dispersion == pytest.approx(4, rel=0.1)
    summaries, theta = limit_detector(per_seed, models, config, eval_start, 2.0, budget=1.0)
    assert theta > 1
    assert np.mean([s["false_alerts_per_metric_week"] for s in summaries.values()]) <= 1.0
    # 60 % changes of a 160–700 count whose noise sd is 2·√mean: most are caught (ramps start at a quarter)
    assert np.mean([s["recall_by_magnitude"]["60"] for s in summaries.values()]) >= 0.5
    for summary in summaries.values():
        assert summary["recall_by_type"]["missing"] == 1.0
    # the same θ under a Poisson model (dispersion forced to 1) fires on the clean noise many times more
    clean = per_seed[1][0].clean.to_numpy()[eval_start:]
    fitted = models[1][("feed_users", "total")]
    poisson = type(fitted)("count", fitted.mean, 1.0, fitted.replicas)
    assert (_tail_score(poisson, clean, None) >= theta).sum() > 5 * max(
        (_tail_score(fitted, clean, None) >= theta).sum(), 1
    )
    share = share_of_limit(
        {"recall_large_volume_by_magnitude": {"60": 0.5}}, {"recall_large_volume_by_magnitude": {"60": 1.0}}
    )
    assert share == {"60": 0.5}


def test_limit_model_of_a_ratio_and_of_a_per_user_count() -> None:
    """CTR: the expectation is the views-weighted mean ratio and binomial noise has dispersion ≈ 1; a
    per-user count (views per feed user) is judged against rate × the bucket's observed users."""
    from feedpulse.alerts.evaluate import _tail_score, fit_limit_model

    rng = np.random.default_rng(5)
    views = rng.poisson(2000, size=(8, 500)).astype(float)
    ctr = rng.binomial(views.astype(int), 0.2) / views
    model = fit_limit_model(ctr, views, "ratio")
    assert model.mean == pytest.approx(np.full(500, 0.2), abs=0.015)  # 16 k views a bucket: sd 0.003
    assert model.dispersion == pytest.approx(1.0, abs=0.15)
    observed = np.full(500, 0.2)
    observed[1] = 0.26  # 6.7 σ of 2000 views
    scores = _tail_score(model, observed, np.full(500, 2000.0))
    assert scores[0] < 1 and scores[1] > 8  # p < 1e-8
    users = rng.poisson(300, size=(8, 500)).astype(float)
    counts = rng.poisson(users * 15).astype(float)
    per_user = fit_limit_model(counts, users, "per_unit")
    assert per_user.mean == pytest.approx(np.full(500, 15), rel=0.02)
    # 4500 views from 300 users is expected; from 400 users it is a deficit far in the tail
    users_now = np.full(500, 300.0)
    users_now[1] = 400.0
    scores = _tail_score(per_user, np.full(500, 4500.0), users_now)
    assert scores[0] < 1 and scores[1] > 8  # p < 1e-8


def test_test_days_keep_the_first_days_plants_and_give_each_next_day_a_clean_history(ch_client) -> None:
    """Two test days: the first day's outcomes are those of a one-day run, and the second day's baseline
    holds the first test day *without* its plants — the same cells as a run whose history is all clean."""
    kw = {"scale": 0.1, "per_day": 4, "spacing": 3}
    one = run_seed(ch_client, 5, history_days=3, test_days=1, **kw)
    kept: list = []
    two = run_seed(ch_client, 5, history_days=3, test_days=2, keep_cells=kept.append, **kw)
    assert [(o.seed, o.test_day) for o in two] == [(5, 0)] * 4 + [(5, 1)] * 4
    assert [(o.plant, o.top, o.fired, o.carried) for o in one] == [
        (o.plant, o.top, o.fired, o.carried) for o in two[:4]
    ]
    assert {o.plant.bucket.date() for o in two[4:]} == {dt.date(2024, 3, 8)}
    clean: list = []
    run_seed(ch_client, 5, history_days=4, test_days=1, keep_cells=clean.append, **kw)  # 2024-03-08 after clean days

    def day_before(cells: pd.DataFrame) -> pd.DataFrame:
        rows = cells[pd.to_datetime(cells["slot"]).dt.date == dt.date(2024, 3, 7)]
        return rows.sort_values(list(rows.columns)).reset_index(drop=True)

    for (plant, _, baseline, _), (other, _, clean_baseline, _) in zip(kept[4:], clean, strict=True):
        assert (plant.metric, plant.bucket) == (other.metric, other.bucket)
        assert not day_before(baseline).empty
        pd.testing.assert_frame_equal(day_before(baseline), day_before(clean_baseline))


def test_the_ceilings_answer_every_plant_and_read_the_same_cells(ch_client) -> None:
    """``--ceiling-replicas``: each plant gets both ceilings' answers, judged by the harness's hit rule and
    summarised beside the explainer's; the cells they read with one query per table equal each bucket's own
    ``load_cells``; the explainer's outcomes are those of a run without the ceilings."""
    kw = {"scale": 0.1, "per_day": 4, "spacing": 3, "history_days": 3, "test_days": 1}
    plain = run_seed(ch_client, 5, **kw)
    judged = run_seed(ch_client, 5, ceiling_replicas=3, **kw)
    assert [(o.plant, o.top, o.carried) for o in plain] == [(o.plant, o.top, o.carried) for o in judged]
    for name in ("ceiling", "counts_ceiling"):
        for o in judged:
            top = getattr(o, f"{name}_top")
            assert 1 <= len(top) <= 3
            assert getattr(o, f"{name}_top1") == _hit(top[:1], o.plant.segment)
            assert getattr(o, f"{name}_top3") == _hit(top, o.plant.segment)
        assert summarise(judged)["all"][name]["n"] == 4
        assert getattr(plain[0], f"{name}_top1") is None and name not in summarise(plain)["all"]

    plants = [o.plant for o in judged]
    with scratch_database(ch_client) as database:
        simulate(ch_client, start=dt.date(2024, 3, 4), days=4, scale=0.1, seed=5, database=database)
        together = _plant_cells(ch_client, database, plants)
        for plant, cells in zip(plants, together, strict=True):
            alone, _ = load_cells(ch_client, plant.metric, plant.bucket, source=database, days=1, halfwidth=0)
            assert not alone.empty
            order = list(alone.columns)
            pd.testing.assert_frame_equal(cells[order].sort_values(order).reset_index(drop=True),
                                          alone.sort_values(order).reset_index(drop=True))  # fmt: skip
