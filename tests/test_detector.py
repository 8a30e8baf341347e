"""Detector, original rules and config: fast unit tests on synthetic seasonal Poisson series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from feedpulse.alerts import baselines
from feedpulse.alerts.config import ConfigError, MetricConfig, Sensitivity, load_config, parse_config
from feedpulse.alerts.detector import Detector, evaluate_frame, run_stream
from feedpulse.alerts.series import BUCKETS_PER_DAY

START = pd.Timestamp("2024-03-04")  # Monday


def expected_curve(days: int, low: float = 150.0, high: float = 770.0) -> np.ndarray:
    """Daily curve (minimum at 04:00, maximum at 16:00) with a 7 % weekend dip."""
    bucket = np.arange(days * BUCKETS_PER_DAY)
    hour = (bucket % BUCKETS_PER_DAY) / 4
    shape = 0.5 - 0.5 * np.cos(2 * np.pi * (hour - 4) / 24)
    weekday = np.where(((bucket // BUCKETS_PER_DAY) % 7) >= 5, 0.93, 1.0)
    return (low + (high - low) * shape) * weekday


def synthetic(days: int = 21, seed: int = 1, low: float = 150.0, high: float = 770.0) -> pd.Series:
    rng = np.random.default_rng(seed)
    values = rng.poisson(expected_curve(days, low, high)).astype(float)
    return pd.Series(
        values, index=pd.date_range(START, periods=days * BUCKETS_PER_DAY, freq="15min"), name="feed_users"
    )


def at(day: int, hour: int, minute: int = 0) -> int:
    return day * BUCKETS_PER_DAY + hour * 4 + minute // 15


CONFIG = MetricConfig(name="feed_users", min_expected=50, min_relative_change=0.1)


def test_drop_of_40_percent_at_peak_fires_within_one_bucket() -> None:
    series = synthetic()
    start = at(20, 16)
    series.iloc[start : start + 2] *= 0.6
    fired = run_stream(series, CONFIG)
    assert fired.iloc[start] or fired.iloc[start + 1]


def test_clean_week_does_not_fire() -> None:
    fired = run_stream(synthetic(seed=3), CONFIG)
    assert int(fired.iloc[14 * BUCKETS_PER_DAY :].sum()) == 0


def test_night_below_min_expected_does_not_fire() -> None:
    series = synthetic(low=20, high=400)
    night = at(20, 4)
    series.iloc[night : night + 3] = np.round(series.iloc[night : night + 3] * 0.4)
    config = CONFIG.model_copy(update={"min_expected": 100})
    result = Detector(config).run(series)
    assert not result.fired[night : night + 3].any()
    evaluation = Detector(config).evaluate(series.iloc[: night + 1], series.index[night])
    assert evaluation.status == "low_volume"


@pytest.mark.parametrize("value", [0.0, np.nan])
def test_zero_or_missing_with_large_expectation_is_no_data(value: float) -> None:
    series = synthetic()
    bucket = at(20, 15)
    series.iloc[bucket] = value
    evaluation = Detector(CONFIG).evaluate(series.iloc[: bucket + 1], series.index[bucket])
    assert evaluation.status == "no_data"
    assert evaluation.expected > 400


def test_missing_bucket_absent_from_index_is_no_data() -> None:
    series = synthetic()
    bucket = at(20, 15)
    history = series.drop(series.index[bucket]).iloc[:bucket]
    evaluation = Detector(CONFIG).evaluate(history, series.index[bucket])
    assert evaluation.status == "no_data"


def test_cold_start_uses_only_the_safe_rule() -> None:
    series = synthetic(days=4)
    peak = at(3, 16)
    detector = Detector(CONFIG)
    assert detector.evaluate(series.iloc[: peak + 1], series.index[peak]).status == "cold_start"
    moderate = series.copy()
    moderate.iloc[peak] *= 0.65  # −35 %: the full detector would fire, the safe rule (50 %) does not
    assert detector.evaluate(moderate.iloc[: peak + 1], series.index[peak]).status == "cold_start"
    large = series.copy()
    large.iloc[peak] *= 0.3
    evaluation = detector.evaluate(large.iloc[: peak + 1], series.index[peak])
    assert evaluation.status == "firing" and "cold start" in evaluation.reason


def test_direction_is_respected() -> None:
    series = synthetic()
    drop, spike = at(19, 16), at(20, 16)
    series.iloc[drop : drop + 2] *= 0.6
    series.iloc[spike : spike + 2] *= 1.4
    up_only = run_stream(series, CONFIG.model_copy(update={"direction": "up"}))
    down_only = run_stream(series, CONFIG.model_copy(update={"direction": "down"}))
    assert not up_only.iloc[drop : drop + 2].any() and up_only.iloc[spike : spike + 2].any()
    assert down_only.iloc[drop : drop + 2].any() and not down_only.iloc[spike : spike + 2].any()


def test_level_shift_does_not_become_normal_within_three_buckets() -> None:
    series = synthetic()
    start = at(20, 13)
    series.iloc[start : start + 12] = np.round(series.iloc[start : start + 12] * 0.6)
    fired = run_stream(series, CONFIG)
    assert fired.iloc[start + 1 : start + 5].all()


def test_evaluate_matches_the_stream_and_reports_the_band() -> None:
    series = synthetic()
    bucket = at(20, 16)
    series.iloc[bucket] *= 0.5
    evaluation = Detector(CONFIG).evaluate(series.iloc[: bucket + 1], series.index[bucket])
    assert evaluation.status == "firing"
    assert evaluation.lower < evaluation.expected < evaluation.upper
    assert evaluation.value < evaluation.lower
    assert evaluation.deviation == pytest.approx(evaluation.value / evaluation.expected - 1)
    assert evaluation.z < -4


def test_evaluate_frame_covers_metrics_and_slices() -> None:
    total = synthetic()
    ios = synthetic(seed=5, low=50, high=260)
    index = pd.MultiIndex.from_product([total.index, ["total", "os:iOS"]], names=["bucket", "slice"])
    frame = pd.DataFrame(index=index)
    frame["feed_users"] = np.column_stack([total.to_numpy(), ios.to_numpy()]).ravel()
    frame["views"] = frame["feed_users"] * 16
    configs = {
        "feed_users": CONFIG,
        "views": MetricConfig(name="views", min_expected=200, sensitivity=Sensitivity(z_once=4.5)),
    }
    evaluations = evaluate_frame(frame, configs, total.index[at(20, 12)])
    assert {(e.metric, e.slice) for e in evaluations} == {
        ("feed_users", "total"), ("feed_users", "os:iOS"), ("views", "total"), ("views", "os:iOS")
    }  # fmt: skip
    assert all(e.status in ("ok", "firing", "low_volume") for e in evaluations)


# --------------------------------------------------------------------------------------------- baselines


def test_yesterday_pct_compares_with_the_same_slot_yesterday() -> None:
    values = np.full(2 * BUCKETS_PER_DAY, 200.0)
    values[BUCKETS_PER_DAY + 10] = 130  # −35 %
    values[BUCKETS_PER_DAY + 20] = 250  # +25 %
    series = pd.Series(values, index=pd.date_range(START, periods=2 * BUCKETS_PER_DAY, freq="15min"))
    fired = baselines.yesterday_pct(series, threshold=0.3)
    assert fired.iloc[BUCKETS_PER_DAY + 10] and not fired.iloc[BUCKETS_PER_DAY + 20]
    assert not fired.iloc[:BUCKETS_PER_DAY].any()  # no reference yet
    assert baselines.yesterday_pct(series, threshold=0.2).iloc[BUCKETS_PER_DAY + 20]


def original_iqr_check(values: list[float], a: float = 3, n: int = 5) -> bool:
    """The original projects' rule, evaluated on the frame ending at the checked bucket."""
    df = pd.DataFrame({"x": values})
    df["q25"] = df["x"].shift(1).rolling(n).quantile(0.25)
    df["q75"] = df["x"].shift(1).rolling(n).quantile(0.75)
    df["iqr"] = df["q75"] - df["q25"]
    df["up"] = (df["q75"] + a * df["iqr"]).rolling(3, center=True, min_periods=1).mean()
    df["low"] = (df["q25"] - a * df["iqr"]).rolling(3, center=True, min_periods=1).mean()
    last = df.iloc[-1]
    return bool(last["x"] < last["low"] or last["x"] > last["up"])


def test_iqr_matches_the_original_rule() -> None:
    rng = np.random.default_rng(0)
    values = list(rng.poisson(100, 60).astype(float))
    values[30] = 160
    values[45] = 40
    series = pd.Series(values, index=pd.date_range(START, periods=60, freq="15min"))
    fired = baselines.iqr(series)
    expected = [original_iqr_check(values[: i + 1]) for i in range(60)]
    assert fired.tolist() == expected
    assert fired.iloc[30] and fired.iloc[45]


def test_iqr_hand_made() -> None:
    index = pd.date_range(START, periods=6, freq="15min")
    assert baselines.iqr(pd.Series([10, 11, 10, 12, 11, 30.0], index=index)).iloc[-1]
    assert not baselines.iqr(pd.Series([10, 11, 10, 12, 11, 12.0], index=index)).iloc[-1]


# --------------------------------------------------------------------------------------------- config


def test_shipped_config_is_valid() -> None:
    config = load_config("alerts.yaml")
    assert set(config.metrics) == {"feed_users", "views", "likes", "ctr", "messenger_users", "messages"}
    assert config.metrics["ctr"].kind == "ratio" and config.metrics["ctr"].volume_metric == "views"
    assert config.repeat_interval.total_seconds() == 7200
    assert config.metrics["feed_users"].owner("os:iOS") == "@ios_team"
    assert config.metrics["messages"].owner("os:iOS") == "@analytics"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"metrics": {"views": {"direction": "sideways"}}}, "metrics.views.direction"),
        ({"metrics": {"views": {"min_expected": -1}}}, "metrics.views.min_expected"),
        ({"metrics": {"views": {"colour": "red"}}}, "metrics.views.colour"),
        ({"metrics": {"views": {"sensitivity": {"z_once": "high"}}}}, "metrics.views.sensitivity.z_once"),
        ({"repeat_interval": "soon", "metrics": {"views": {}}}, "repeat_interval"),
        ({"slices": ["total", "planet"], "metrics": {"views": {}}}, "slices"),
        ({"metrics": {"dau": {}}}, "metrics.dau"),
        ({}, "metrics"),
    ],
)
def test_config_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config(data)


def test_yaml_file_errors_name_the_field(tmp_path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("metrics:\n  likes:\n    min_relative_change: lots\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"metrics\.likes\.min_relative_change"):
        load_config(path)


def test_lower_tail_raises_only_the_downward_thresholds() -> None:
    series = synthetic()
    drop, spike = at(20, 10), at(20, 16)
    result = Detector(CONFIG).run(series)
    expected_drop, expected_spike = result.expected[drop], result.expected[spike]
    series.iloc[drop] = round(expected_drop * 0.85)
    series.iloc[spike] = round(expected_spike * 1.18)
    plain = MetricConfig(name="feed_users", min_expected=50, min_relative_change=0.1,
                         sensitivity=Sensitivity(z_once=3.0, z_twice=3.0, z_sum=10.0))  # fmt: skip
    tail = plain.model_copy(update={"sensitivity": plain.sensitivity.model_copy(update={"lower_tail": 1.5})})
    base, adjusted = Detector(plain).run(series), Detector(tail).run(series)
    assert base.z[drop] < -3.0 and base.fired[drop]
    assert abs(base.z[drop]) < 4.5 and not adjusted.fired[drop]  # 3.0 · 1.5 below
    assert base.fired[spike] and adjusted.fired[spike]  # upward thresholds unchanged
    assert adjusted.lower[drop] < base.lower[drop] and adjusted.upper[spike] == base.upper[spike]


# --------------------------------------------------------------------------------------------- per user


def per_user_pair(days: int = 21, seed: int = 3) -> tuple[pd.Series, pd.Series]:
    """Users with 8 % extra per-bucket noise and views ≈ Poisson(10 × users): noisy, but the rate is stable."""
    rng = np.random.default_rng(seed)
    users = synthetic(days, seed) * np.exp(rng.normal(0, 0.08, days * BUCKETS_PER_DAY))
    users = users.round()
    views = pd.Series(rng.poisson(10 * users.to_numpy()).astype(float), index=users.index, name="views")
    return users, views


PER_USER = MetricConfig(name="views", min_expected=200, min_relative_change=0.1, per_user_of="feed_users")


def test_per_user_prediction_sharpens_a_change_the_users_do_not_explain() -> None:
    users, views = per_user_pair()
    bucket = at(20, 16)
    views.iloc[bucket] = round(views.iloc[bucket] * 0.8)  # −20 % views, users unchanged
    plain = Detector(PER_USER).run(views)
    per_user = Detector(PER_USER).run(views, users=users)
    assert abs(per_user.z[bucket]) > 2 * abs(plain.z[bucket])
    assert per_user.status[bucket] == 1 and "(per feed_users)" in per_user.reason[bucket]  # FIRING
    expected_rate = per_user.expected[bucket] / users.iloc[bucket]
    assert expected_rate == pytest.approx(10, rel=0.05)  # expected = rate × actual users
    evaluation = Detector(PER_USER).evaluate(views.iloc[: bucket + 1], views.index[bucket], users=users)
    assert evaluation.status == "firing"
    assert evaluation.expected == pytest.approx(per_user.expected[bucket])
    # without per_user_of in the config the users series is ignored
    assert np.array_equal(Detector(CONFIG).run(views, users=users).z, Detector(CONFIG).run(views).z, equal_nan=True)


def test_per_user_falls_back_to_the_plain_baseline_when_users_are_anomalous() -> None:
    users, views = per_user_pair()
    bucket = at(20, 16)
    users.iloc[bucket] = round(users.iloc[bucket] * 0.4)  # users collapse, views follow: rate unchanged
    views.iloc[bucket] = round(views.iloc[bucket] * 0.4)
    plain = Detector(PER_USER).run(views)
    per_user = Detector(PER_USER).run(views, users=users)
    assert per_user.status[bucket] == 1 and "per user" not in per_user.reason[bucket]
    assert per_user.z[bucket] == pytest.approx(plain.z[bucket])
    series = run_stream(views, PER_USER, users=users)
    assert bool(series.iloc[bucket])


def test_per_reference_below_one_per_unit_uses_binomial_noise() -> None:
    """likes per view (≈ CTR): the binomial noise of likes given views, calibrated and sharp."""
    _, views = per_user_pair()
    rng = np.random.default_rng(5)
    likes = pd.Series(rng.binomial(views.to_numpy().astype(int), 0.2).astype(float), index=views.index, name="likes")
    bucket = at(20, 16)
    likes.iloc[bucket] = round(likes.iloc[bucket] * 0.8)  # −20 % likes, views unchanged
    config = MetricConfig(name="likes", min_expected=100, min_relative_change=0.1, per_user_of="views")
    per_view = Detector(config).run(likes, users=views)
    plain = Detector(config).run(likes)
    clean = per_view.z[at(14, 0) : at(20, 0)]
    assert 0.8 < np.nanstd(clean) < 1.25  # z calibrated: the floor is binomial below one like per view
    assert abs(per_view.z[bucket]) > 2 * abs(plain.z[bucket])
    assert per_view.fired[bucket] and "(per views)" in per_view.reason[bucket]
    assert per_view.expected[bucket] / views.iloc[bucket] == pytest.approx(0.2, rel=0.05)


def test_per_user_of_is_validated() -> None:
    base = {"metrics": {"views": {"per_user_of": "feed_users"}, "likes": {"per_user_of": "views"}}}
    assert parse_config(base).metrics["views"].per_user_of == "feed_users"
    assert parse_config(base).metrics["likes"].per_user_of == "views"
    with pytest.raises(ConfigError, match=r"metrics\.views\.per_user_of"):
        parse_config({"metrics": {"views": {"per_user_of": "nope"}}})
    with pytest.raises(ConfigError, match="only for count"):
        parse_config({"metrics": {"ctr": {"kind": "ratio", "volume_metric": "views", "per_user_of": "feed_users"}}})


def test_row_medians_ignore_nan_exactly_as_numpy():
    """The detector's fast row median (sorted rows, NaN last) equals np.nanmedian on every row."""
    import warnings

    from feedpulse.alerts.detector import _nanmedian_rows

    rng = np.random.default_rng(16)
    for _ in range(300):
        matrix = rng.normal(size=(int(rng.integers(1, 25)), int(rng.integers(1, 35))))
        matrix[rng.random(matrix.shape) < rng.random()] = np.nan
        medians, counts = _nanmedian_rows(matrix)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
            np.testing.assert_allclose(medians, np.nanmedian(matrix, axis=1), equal_nan=True)
        np.testing.assert_array_equal(counts, np.sum(~np.isnan(matrix), axis=1))


def test_the_median_of_a_few_values_is_numpys_to_the_last_bit() -> None:
    """The cold start's and the weekday level's median (a pure-Python one for speed) gives exactly np.median."""
    from feedpulse.alerts.detector import _median_of_few

    rng = np.random.default_rng(3)
    for size in (1, 2, 3, 4, 5):
        for _ in range(200):
            values = rng.lognormal(3.0, 2.0, size) * rng.choice([-1.0, 1.0], size)
            assert _median_of_few(values.tolist()) == float(np.median(values))
