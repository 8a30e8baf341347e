"""Root-cause explainer (feedpulse.alerts.explain) on hand-computable cells."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from feedpulse.alerts.explain import ExplainError, _stands_out, dispersion, explain, parse_slice, rate_dispersion


def cells(rows: list[tuple[str, str, float]], column: str = "views") -> pd.DataFrame:
    """(os, source, value) rows → cells with the two dimensions."""
    return pd.DataFrame(rows, columns=["os", "source", column])


BASE = cells([("Android", "ads", 100), ("Android", "organic", 100), ("iOS", "ads", 100), ("iOS", "organic", 100)])


def test_pair_planted_segment_ranks_first_with_its_share_and_change() -> None:
    now = cells([("Android", "ads", 36), ("Android", "organic", 100), ("iOS", "ads", 100), ("iOS", "organic", 100)])
    result = explain(now, BASE, "views", dimensions=("os", "source"), min_pair_expected=1)
    assert (result.observed, result.expected) == (336, 400)
    top = result.segments[0]
    assert top.segment == (("os", "Android"), ("source", "ads"))
    assert top.label() == "Android · source=ads"
    assert top.share == pytest.approx(1.0)  # all of the −64
    assert top.change == pytest.approx(-0.64)
    # z² per unit of deviation against its share of the observed total: (36 − 100·336/400)² / (100 · 64)
    assert top.score == pytest.approx(48**2 / (100 * 64))
    # the parents: 136 of 200 expected, all of the deviation, −32 % each
    parents = result.segments[1:3]
    assert [p.segment for p in parents] == [(("os", "Android"),), (("source", "ads"),)]
    assert all(p.share == pytest.approx(1.0) and p.change == pytest.approx(-0.32) for p in parents)
    # iOS and organic did not move: not listed
    assert {s.segment for s in result.segments} == {top.segment, parents[0].segment, parents[1].segment}


def test_single_dimension_drop_outranks_its_children_and_other_dimensions() -> None:
    now = cells([("Android", "ads", 50), ("Android", "organic", 50), ("iOS", "ads", 100), ("iOS", "organic", 100)])
    result = explain(now, BASE, "views", dimensions=("os", "source"), min_pair_expected=1)
    top = result.segments[0]
    assert top.segment == (("os", "Android"),)
    # score: (100 − 200·300/400)² / (200 · 100), z² per unit of deviation
    assert (top.share, top.change, top.score) == (pytest.approx(1.0), pytest.approx(-0.5), pytest.approx(0.125))
    # Android · ads carries half the deviation at −50 % (score 0.25 ≤ 1.25 × 0.5): the parent says it
    assert all(len(s.segment) == 1 for s in result.segments)
    # ads and organic each carry half of it at −25 %
    rest = {s.segment: (s.share, s.change) for s in result.segments[1:]}
    assert rest == {(("source", "ads"),): (0.5, -0.25), (("source", "organic"),): (0.5, -0.25)}
    assert not result.uniform


def test_expected_total_rescales_a_multi_day_baseline() -> None:
    """The baseline spans 4 days (4× the counts); the detector expects 400 for the bucket."""
    base = BASE.assign(views=BASE["views"] * 4)
    now = cells([("Android", "ads", 36), ("Android", "organic", 100), ("iOS", "ads", 100), ("iOS", "organic", 100)])
    result = explain(now, base, "views", expected_total=400, dimensions=("os", "source"), min_pair_expected=1)
    assert result.segments[0].expected == pytest.approx(100)
    assert result.segments[0].change == pytest.approx(-0.64)
    # a detector expecting 500 sees a −164 deviation; Android (136 of expected 250) carries 114/164 of it
    higher = explain(now, base, "views", expected_total=500, dimensions=("os", "source"), min_pair_expected=1)
    android = next(s for s in higher.segments if s.segment == (("os", "Android"),))
    assert android.share == pytest.approx(114 / 164)
    assert android.change == pytest.approx(136 / 250 - 1)


def test_slice_restricts_cells_and_drops_its_own_dimension() -> None:
    now = cells([("Android", "ads", 36), ("Android", "organic", 100), ("iOS", "ads", 500), ("iOS", "organic", 100)])
    result = explain(now, BASE, "views", slice_label="os:Android", dimensions=("os", "source"))
    assert (result.observed, result.expected) == (136, 200)  # iOS's spike is outside the slice
    assert [s.segment for s in result.segments] == [(("source", "ads"),)]
    assert result.segments[0].share == pytest.approx(1.0)


def test_uniform_change_is_recognised() -> None:
    now = BASE.assign(views=BASE["views"] * 0.8)
    result = explain(now, BASE, "views", dimensions=("os", "source"))
    assert result.deviation == pytest.approx(-0.2)
    assert result.uniform
    assert all(s.change == pytest.approx(-0.2) for s in result.segments)
    assert result.segments[0].share == pytest.approx(0.5)  # a half of the audience: half of the deviation


def test_small_segments_are_not_ranked() -> None:
    base = cells([("Android", "ads", 3), ("Android", "organic", 300), ("iOS", "organic", 300)])
    now = cells([("Android", "ads", 0), ("Android", "organic", 300), ("iOS", "organic", 300)])
    default = explain(now, base, "views", dimensions=("os", "source"))
    assert (("source", "ads"),) not in {s.segment for s in default.segments}  # 3 expected < 5
    assert default.segments[0].segment == (("os", "Android"),)
    small = explain(now, base, "views", dimensions=("os", "source"), min_expected=1)
    assert small.segments[0].segment == (("source", "ads"),)
    assert small.segments[0].change == pytest.approx(-1.0)


def test_a_segment_of_a_dozen_senders_is_ranked_for_messages_but_a_dozen_viewers_is_not_for_views() -> None:
    """Tver has 12 users: too few to rank their views (≈ 17 each, in bursts), enough to rank their messages
    (about one each). The same cells, the same halving of Tver, read as views and as messages."""

    def frame(tver: float) -> pd.DataFrame:
        rows = [("Tver", 12, tver), ("Omsk", 300, 330.0), ("Other", 700, 770.0)]
        return pd.DataFrame(rows, columns=["city", "users", "count"])

    for metric, users in (("views", "feed_users"), ("messages", "messenger_users")):
        now, base = (f.rename(columns={"users": users, "count": metric}) for f in (frame(7.0), frame(13.0)))
        ranked = {s.segment for s in explain(now, base, metric, dimensions=("city",)).segments}
        assert ((("city", "Tver"),) in ranked) == (metric == "messages"), metric


def test_a_segment_without_baseline_is_not_ranked() -> None:
    """One heavy user in a segment that had no views: noise, not a root cause."""
    now = pd.concat([BASE, cells([("Android", "referral", 50)])], ignore_index=True)
    result = explain(now, BASE, "views", dimensions=("os", "source"))
    assert [s.segment for s in result.segments] == [(("os", "Android"),)]
    assert result.segments[0].change == pytest.approx(0.25)


def ctr_cells(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["os", "views", "likes"])


CTR_BASE = ctr_cells([("Android", 100, 20), ("iOS", 100, 10)])  # CTR 0.2 and 0.1: 0.15 overall


def test_ctr_pure_mix() -> None:
    """The same CTR in each os, three times more Android views: +0.025 CTR, all of it mix."""
    now = ctr_cells([("Android", 300, 60), ("iOS", 100, 10)])
    result = explain(now, CTR_BASE, "ctr", dimensions=("os",))
    assert result.observed == pytest.approx(0.175) and result.expected == pytest.approx(0.15)
    split = result.mix_rate
    assert split is not None and split.dimensions == ("os",)
    assert split.mix == pytest.approx(0.025) and split.rate == pytest.approx(0.0, abs=1e-12)
    assert split.mix_share == pytest.approx(1.0)


def test_ctr_pure_rate_names_the_segment() -> None:
    """Android's CTR halves (0.2 → 0.1) at the same views: −0.05 CTR, all of it rate, all in Android."""
    now = ctr_cells([("Android", 100, 10), ("iOS", 100, 10)])
    result = explain(now, CTR_BASE, "ctr", dimensions=("os",))
    assert result.mix_rate is not None
    assert result.mix_rate.rate == pytest.approx(-0.05) and result.mix_rate.mix == pytest.approx(0.0, abs=1e-12)
    top = result.segments[0]
    assert top.segment == (("os", "Android"),)
    assert (top.share, top.change) == (pytest.approx(1.0), pytest.approx(-0.5))
    assert len(result.segments) == 1  # iOS did not move


def test_ctr_mix_and_rate_add_up_against_the_detectors_expectation() -> None:
    """Expected CTR 0.16 (not the baseline's 0.15): baseline rates scaled by 0.16/0.15; the split is exact."""
    now = ctr_cells([("Android", 200, 30), ("iOS", 200, 16)])
    result = explain(now, CTR_BASE, "ctr", expected_total=0.16, dimensions=("os",))
    split = result.mix_rate
    assert split is not None
    assert result.observed == pytest.approx(46 / 400)
    assert split.mix + split.rate == pytest.approx(46 / 400 - 0.16)
    # w unchanged (½, ½): no mix; rates 0.15 vs 0.2·16/15 and 0.08 vs 0.1·16/15
    assert split.mix == pytest.approx(0.0, abs=1e-12)
    assert split.rate == pytest.approx(0.5 * (0.15 - 0.2 * 16 / 15) + 0.5 * (0.08 - 0.1 * 16 / 15))


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ExplainError, match="likes"):
        explain(BASE, BASE, "ctr")
    with pytest.raises(ExplainError, match="DIMENSION:VALUE"):
        parse_slice("Android")
    with pytest.raises(ExplainError, match="no column 'age'"):
        explain(BASE, BASE, "views", slice_label="age:18-24")
    assert parse_slice("os:Android") == {"os": "Android"} and parse_slice("total") == {}


def test_a_parent_that_is_all_one_pair_ranks_without_floors() -> None:
    """Android has no organic cell: Android · ads is all of Android, whose rest is expected at nothing. With the
    floors at 0 (a caller's choice) that rest has no change to compare, so the pair is left to its parent."""
    base = cells([("Android", "ads", 100), ("iOS", "ads", 100), ("iOS", "organic", 100)])
    now = cells([("Android", "ads", 40), ("iOS", "ads", 100), ("iOS", "organic", 100)])
    result = explain(now, base, "views", dimensions=("os", "source"), min_expected=0, min_pair_expected=0)
    assert result.segments[0].segment == (("os", "Android"),)
    assert result.segments[0].change == pytest.approx(-0.6)
    assert (("os", "Android"), ("source", "ads")) not in {s.segment for s in result.segments}


def test_no_deviation_no_segments() -> None:
    assert explain(BASE, BASE, "views").segments == []


def test_module_is_pure() -> None:
    code = (
        "import sys, feedpulse.alerts.explain; "
        "print(sorted(m for m in ('dagster', 'clickhouse_connect', 'chdb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_pair_that_is_most_of_its_parent_is_still_named_when_the_rest_did_not_move() -> None:
    """Android · ads is 90 % of Android; it drops 60 %, Android · organic does not move: the pair leads
    (the parent, −54 %, is the same change diluted), the other dimension's parent follows."""
    base = cells([("Android", "ads", 900), ("Android", "organic", 100), ("iOS", "ads", 500), ("iOS", "organic", 100)])
    now = cells([("Android", "ads", 360), ("Android", "organic", 100), ("iOS", "ads", 500), ("iOS", "organic", 100)])
    result = explain(now, base, "views", dimensions=("os", "source"))
    assert [s.segment for s in result.top(3)] == [
        (("os", "Android"), ("source", "ads")),
        (("os", "Android"),),
        (("source", "ads"),),
    ]
    assert result.segments[0].change == pytest.approx(-0.6)
    assert result.segments[1].change == pytest.approx(-0.54)


def slotted(rows: list[tuple[str, str, list[float]]], column: str = "views") -> pd.DataFrame:
    """Baseline cells per bucket: (source, city, [count in bucket 0, 1, …]) → rows with a ``slot`` column."""
    return pd.DataFrame(
        [(source, city, t, v) for source, city, values in rows for t, v in enumerate(values)],
        columns=["source", "city", "slot", column],
    )


def test_a_small_noisy_segment_with_a_big_swing_does_not_outrank_the_segment_carrying_the_deviation() -> None:
    """ads (40 %, steady) drops 25 % and carries ¾ of the deviation; Tver (4 %) drops 80 % but its views
    jump between 10 and 70 from bucket to bucket (a few heavy users): a swing its noise explains."""
    base = slotted([("ads", "Other", [400.0] * 12), ("organic", "Other", [560.0] * 12),
                    ("organic", "Tver", [10.0, 70.0] * 6)])  # fmt: skip
    now = pd.DataFrame([("ads", "Other", 300.0), ("organic", "Other", 560.0), ("organic", "Tver", 8.0)],
                       columns=["source", "city", "views"])  # fmt: skip
    kw = {"expected_total": 1000, "dimensions": ("source", "city"), "min_pair_expected": 1, "min_users": 0}
    result = explain(now, base, "views", **kw)
    top = result.segments[0]
    assert top.segment == (("source", "ads"),)
    assert (top.share, top.change) == (pytest.approx(100 / 132), pytest.approx(-0.25))  # output fields as before
    tver = next(s for s in result.segments if s.segment == (("city", "Tver"),))
    assert tver.change == pytest.approx(-0.8) and tver.score < top.score / 2
    # without the buckets (a Poisson noise for every segment) Tver's −80 % would lead
    poisson = explain(now, base.drop(columns="slot"), "views", **kw)
    assert poisson.segments[0].segment == (("city", "Tver"),)


def test_a_segment_whose_baseline_is_noisy_is_down_weighted() -> None:
    """Two experiment groups of 100 views per bucket rise alike (+40 % and +35 %); group 1 swings 40 ↔ 160
    from bucket to bucket, group 2 stays within ±5: group 2's rise is the surprise."""
    rows = [(g, t, v) for t in range(12) for g, v in (("1", [40.0, 160.0][t % 2]), ("2", 100.0 + (t % 3 - 1) * 5),
                                                       ("3", 800.0))]  # fmt: skip
    base = pd.DataFrame(rows, columns=["exp_group", "slot", "views"])
    now = pd.DataFrame([("1", 140.0), ("2", 135.0), ("3", 800.0)], columns=["exp_group", "views"])
    kw = {"expected_total": 1000, "dimensions": ("exp_group",), "min_users": 0}
    noisy = [s.segment for s in explain(now, base, "views", **kw).segments]
    assert noisy[:2] == [(("exp_group", "2"),), (("exp_group", "1"),)]
    flat = [s.segment for s in explain(now, base.drop(columns="slot"), "views", **kw).segments]
    assert flat[:2] == [(("exp_group", "1"),), (("exp_group", "2"),)]  # the bigger swing, without the noise


def test_dispersion_is_the_variance_to_mean_ratio_around_the_share_of_each_bucket() -> None:
    # a segment at a fixed share of a moving total has no noise of its own (floored at Poisson's 1) …
    steady = np.array([[10.0, 20.0, 30.0], [90.0, 180.0, 270.0]])
    assert dispersion(steady, prior=0.0) == pytest.approx([1.0, 1.0])
    # … one alternating 10 ↔ 30 around its share has its own variance, per bucket and per unit of its mean
    noisy = np.array([[10.0, 30.0, 10.0, 30.0], [100.0, 100.0, 100.0, 100.0]])
    phi = dispersion(noisy, prior=0.0)
    share = 80 / 480
    residual = noisy[0] - share * noisy.sum(axis=0)
    assert phi[0] == pytest.approx((residual**2).sum() / 3 / 20)
    assert phi[0] > 4 and dispersion(noisy, prior=2.0)[0] < phi[0]  # shrunk towards the pooled ratio


def test_a_pair_whose_change_does_not_stand_out_from_its_parents_rest_is_not_listed() -> None:
    """Android drops (ads −40 %, organic −10 % on 50 and 20 views): the pair's sharper drop is within the noise
    of so few views (z ≈ 1.3 < 3), so Android leads; the margin rule alone would have listed the pair."""
    base = cells([("Android", "ads", 50), ("Android", "organic", 20), ("iOS", "ads", 500), ("iOS", "organic", 300)])
    now = cells([("Android", "ads", 30), ("Android", "organic", 18), ("iOS", "ads", 500), ("iOS", "organic", 300)])
    kw = {"dimensions": ("os", "source"), "min_pair_expected": 1, "min_users": 0}
    assert [s.segment for s in explain(now, base, "views", **kw).segments][:1] == [(("os", "Android"),)]
    assert explain(now, base, "views", pair_z=0.0, **kw).segments[0].segment == (("os", "Android"), ("source", "ads"))


def test_a_pair_inside_a_spiking_segment_is_judged_at_the_noise_of_its_new_level() -> None:
    """Android spikes: ads +120 %, organic +40 % (38 expected views each). Against the rest of Android the
    pair's sharper rise is z = 0.8 / √(84/38² + 53/38²) ≈ 2.6 at the counts' new level (≈ 3.5 at the
    baseline's, which would list the pair first): a spike scatters more than the baseline did, so Android leads."""
    base = cells([("Android", "ads", 38), ("Android", "organic", 38), ("iOS", "ads", 500), ("iOS", "organic", 300)])
    now = cells([("Android", "ads", 84), ("Android", "organic", 53), ("iOS", "ads", 500), ("iOS", "organic", 300)])
    kw = {"dimensions": ("os", "source"), "min_pair_expected": 1, "min_users": 0}
    result = explain(now, base, "views", **kw)
    android = next(s for s in result.segments if s.segment == (("os", "Android"),))
    pair = explain(now, base, "views", pair_z=0.0, **kw).segments[0]
    assert pair.segment == (("os", "Android"), ("source", "ads"))  # the sharper rise, when pairs pass freely
    assert _stands_out(android, pair, 1.0) == pytest.approx((84 / 38 - 53 / 38) / np.sqrt((84 + 53) / 38**2))
    assert 2.4 < _stands_out(android, pair, 1.0) < 3
    assert result.segments[0].segment == (("os", "Android"),)
    assert pair.segment not in [s.segment for s in result.segments]


def test_rate_dispersion_is_one_for_binomial_likes_and_recovers_a_beta_binomial() -> None:
    rng = np.random.default_rng(7)
    slots = 600
    views = rng.integers(150, 250, size=(3, slots)).astype(float)
    level = 1 + 0.3 * np.sin(np.arange(slots) / 20)  # the hour moves every segment's CTR alike: not noise
    binomial = rng.binomial(views[0].astype(int), 0.2 * level / level.max())
    rho = 0.02  # beta-binomial: variance = binomial × (1 + (n − 1) ρ) at a fixed rate
    p = rng.beta(0.2 * (1 / rho - 1), 0.8 * (1 / rho - 1), size=slots) * level / level.max()
    beta = rng.binomial(views[1].astype(int), p)
    exact = 0.1 * views[2] * level  # exactly at its rate × the level: no noise of its own
    bulk_views = 50 * views[0]  # most of the slice, binomial: it sets each bucket's CTR level
    bulk = rng.binomial(bulk_views.astype(int), 0.2 * level / level.max())
    likes = np.vstack([binomial, beta, exact, bulk]).astype(float)
    views = np.vstack([views, bulk_views])
    psi = rate_dispersion(likes, views, prior=0.0)
    assert psi[0] == pytest.approx(1.0, abs=0.15)
    n, mean = views[1], 0.2 * level / level.max()  # the beta-binomial's variance over the binomial's, per bucket
    binomial_variance = n * mean * (1 - mean)
    extra = n * (n - 1) * (level / level.max()) ** 2 * 0.2 * 0.8 * rho
    assert psi[1] == pytest.approx((binomial_variance + extra).sum() / binomial_variance.sum(), rel=0.15)  # ≈ 3.9
    assert psi[2] == 1.0  # floored at the binomial
    assert 1.0 < rate_dispersion(likes, views, prior=2.0)[1] < psi[1]  # shrunk towards the pooled ratio
    assert list(rate_dispersion(likes[:, :1], views[:, :1])) == [1.0] * 4  # one bucket: no estimate


def ctr_slotted(rows: list[tuple[str, list[float], list[float]]]) -> pd.DataFrame:
    """(exp_group, [views per bucket], [likes per bucket]) → baseline cells with a ``slot`` column."""
    return pd.DataFrame(
        [(g, t, v, lk) for g, views, likes in rows for t, (v, lk) in enumerate(zip(views, likes, strict=True))],
        columns=["exp_group", "slot", "views", "likes"],
    )


def test_ctr_a_segment_whose_likes_swing_is_down_weighted() -> None:
    """Both groups' CTR drops (group 1: 0.2 → 0.08, group 2: 0.2 → 0.12) on 100 views; group 1's likes swing
    5 ↔ 35 from bucket to bucket, group 2's stay at 19–21: group 2's drop is the surprise. Without the noise
    model (or without the buckets) the bigger drop leads."""
    base = ctr_slotted([("1", [100.0] * 12, [5.0, 35.0] * 6), ("2", [100.0] * 12, [19.0, 20.0, 21.0] * 4),
                        ("3", [800.0] * 12, [160.0] * 12)])  # fmt: skip
    now = pd.DataFrame([("1", 100.0, 8.0), ("2", 100.0, 12.0), ("3", 800.0, 160.0)],
                       columns=["exp_group", "views", "likes"])  # fmt: skip
    kw = {"dimensions": ("exp_group",), "min_users": 0}
    result = explain(now, base, "ctr", **kw)
    assert [s.segment for s in result.top(2)] == [(("exp_group", "2"),), (("exp_group", "1"),)]
    top = result.segments[0]
    assert (top.share, top.change) == (pytest.approx(-8 / 1000 / (0.18 - 0.2)), pytest.approx(-0.4))  # as before
    for other in (explain(now, base, "ctr", ratio_noise=False, **kw), explain(now, base.drop(columns="slot"), "ctr",
                                                                                 **kw)):  # fmt: skip
        assert other.segments[0].segment == (("exp_group", "1"),)


def test_ctr_a_pair_whose_rate_does_not_stand_out_from_its_parents_rest_is_not_listed() -> None:
    """Android's CTR drops: ads −40 % on 50 views, organic −10 % on 40: within the binomial noise of so few
    views, so Android leads; with the pair test off the sharper pair would."""
    base = ctr_cells([("Android", 50, 10), ("iOS", 2000, 400)]).assign(source="ads")
    base = pd.concat([base, pd.DataFrame([("Android", 40.0, 8.0, "organic"), ("iOS", 500.0, 100.0, "organic")],
                                         columns=base.columns)], ignore_index=True)  # fmt: skip
    now = base.copy()
    now.loc[(now.os == "Android") & (now.source == "ads"), "likes"] = 6.0
    now.loc[(now.os == "Android") & (now.source == "organic"), "likes"] = 7.2
    kw = {"dimensions": ("os", "source"), "min_pair_expected": 1, "min_users": 0, "min_expected": 1}
    assert explain(now, base, "ctr", **kw).segments[0].segment == (("os", "Android"),)
    loose = explain(now, base, "ctr", pair_z=0.0, **kw).segments[0]
    assert loose.segment == (("os", "Android"), ("source", "ads"))


def test_ctr_uniform_change_moves_no_segment_against_the_rest() -> None:
    base = ctr_slotted([(g, [100.0 * (i + 1)] * 6, [20.0 * (i + 1), 22.0 * (i + 1)] * 3) for i, g in enumerate("123")])
    now = pd.DataFrame([(g, 100.0 * (i + 1), 16.8 * (i + 1)) for i, g in enumerate("123")],
                       columns=["exp_group", "views", "likes"])  # fmt: skip
    result = explain(now, base, "ctr", dimensions=("exp_group",), min_users=0)
    assert result.uniform
    assert result.segments[0].segment == (("exp_group", "3"),)  # the largest, by the tie-break
    assert all(s.score * abs(result.observed - result.expected) < 1e-2 for s in result.segments)


def test_ctr_segments_without_baseline_views_or_likes_are_scored_finitely_or_not_at_all() -> None:
    """A group with no baseline views (never ranked) and one whose users never like (rate 0): finite scores."""
    base = ctr_slotted([("1", [100.0] * 6, [20.0, 22.0] * 3), ("2", [100.0] * 6, [0.0] * 6),
                        ("3", [800.0] * 6, [160.0] * 6)])  # fmt: skip
    now = pd.DataFrame([("1", 100.0, 8.0), ("2", 100.0, 0.0), ("3", 800.0, 160.0), ("4", 50.0, 1.0)],
                       columns=["exp_group", "views", "likes"])  # fmt: skip
    result = explain(now, base, "ctr", dimensions=("exp_group",), min_users=0)
    assert result.segments[0].segment == (("exp_group", "1"),)
    assert all(np.isfinite(s.score) for s in result.segments)
    assert (("exp_group", "4"),) not in [s.segment for s in result.segments]


def users_slotted(rows: list[tuple[str, list[int], list[float]]]) -> pd.DataFrame:
    """Baseline cells per bucket: (city, [feed users per bucket], [views per bucket]) → rows with ``slot``."""
    return pd.DataFrame(
        [(city, t, u, v) for city, users, views in rows for t, (u, v) in enumerate(zip(users, views, strict=True))],
        columns=["city", "slot", "feed_users", "views"],
    )


def test_views_per_user_dropping_in_a_segment_whose_audience_swings_is_found_through_its_users() -> None:
    """Tver's audience swings 50 ↔ 150 users, each viewing 10 — its views swing with them; now its 100 users view
    7 each (−30 %). Omsk's 100 users view 900 ↔ 1100 and now 780 (−22 %). On the counts alone Tver's drop hides
    in its audience's swing and Omsk leads; per user Tver never moved before, and now it did."""
    base = users_slotted([("Tver", [50, 150] * 6, [500.0, 1500.0] * 6), ("Omsk", [100] * 12, [900.0, 1100.0] * 6),
                          ("Other", [800] * 12, [8000.0] * 12)])  # fmt: skip
    now = pd.DataFrame([("Tver", 100, 700.0), ("Omsk", 100, 780.0), ("Other", 800, 8000.0)],
                       columns=["city", "feed_users", "views"])  # fmt: skip
    kw = {"expected_total": 10000, "dimensions": ("city",), "min_users": 0}
    result = explain(now, base, "views", driver="feed_users", **kw)
    assert [s.segment for s in result.segments] == [(("city", "Tver"),), (("city", "Omsk"),)]
    assert (result.segments[0].share, result.segments[0].change) == (pytest.approx(300 / 520), pytest.approx(-0.3))
    counts_only = explain(now, base, "views", **kw)
    assert counts_only.segments[0].segment == (("city", "Omsk"),)
    # cells without the driver's counts: the counts alone, as without a driver
    without = explain(
        now.drop(columns="feed_users"), base.drop(columns="feed_users"), "views", driver="feed_users", **kw
    )
    assert [s.segment for s in without.segments] == [s.segment for s in counts_only.segments]


def test_a_segment_losing_its_users_is_named_although_each_user_views_as_before() -> None:
    """Tver's 100 users view 700 ↔ 1300 per bucket; now 60 of them are left, viewing 10 each as before (−40 %).
    Omsk's steady views per user drop 8 %. Judged per user alone, Tver did not move and Omsk would lead; its
    audience fell far beyond its noise, and that is where the views went."""
    base = users_slotted([("Tver", [95, 105] * 6, [700.0, 1300.0] * 6), ("Omsk", [100] * 12, [980.0, 1020.0] * 6),
                          ("Other", [800] * 12, [8000.0] * 12)])  # fmt: skip
    now = pd.DataFrame([("Tver", 60, 600.0), ("Omsk", 100, 920.0), ("Other", 800, 8000.0)],
                       columns=["city", "feed_users", "views"])  # fmt: skip
    result = explain(now, base, "views", expected_total=10000, dimensions=("city",), min_users=0, driver="feed_users")
    assert result.segments[0].segment == (("city", "Tver"),)
    assert result.segments[0].score > 10 * result.segments[1].score


def test_rate_dispersion_of_an_unbounded_count_is_against_the_poisson_variance() -> None:
    """Views of feed users: Poisson views per user (mean 10) give ≈ 1; views in per-user bursts give more."""
    rng = np.random.default_rng(11)
    users = rng.poisson(200, size=(8, 400)).astype(float)
    poisson = rng.poisson(10 * users).astype(float)
    # each bucket's level is measured on the same 8 equal segments, which takes 1/8 of the variance away
    shrink = 1 - 1 / 8
    assert rate_dispersion(poisson, users, prior=0.0, binomial=False) == pytest.approx([shrink] * 8, rel=0.1)
    bursts = np.array([[rng.poisson(rng.gamma(2.0, 5.0, size=int(n))).sum() for n in row] for row in users])
    # a user's views: Poisson around a gamma(2, 5) mean ⇒ variance / mean = 1 + 5 (each user's own mean varies)
    assert rate_dispersion(bursts, users, prior=0.0, binomial=False) == pytest.approx([6.0 * shrink] * 8, rel=0.2)


def test_messages_per_sender_vary_far_less_than_poisson_and_a_spike_in_them_is_found() -> None:
    """Every sender sends one message and a tenth of them a second: messages given senders vary ≈ 0.1 × Poisson.
    Now Tver's 20 senders send 30 messages (+36 %, the senders as before), and Omsk's senders happen to be 125
    instead of 100 (a 2.5σ swing of its audience), each sending as usual. Floored at Poisson, Tver's 8 extra
    messages per 22 are within the noise and Omsk's audience leads; at the measured noise they are far beyond it."""
    rng = np.random.default_rng(5)
    senders = rng.poisson(100, size=(6, 300)).astype(float)
    messages = senders + rng.poisson(0.1 * senders)
    psi = rate_dispersion(messages, senders, prior=0.0, binomial=False)
    assert psi == pytest.approx([0.1 * 5 / 6] * 6, rel=0.25)  # the level per bucket takes 1/6 of the variance
    base = pd.DataFrame(
        [(city, t, int(u), int(u + rng.poisson(0.1 * u))) for city, n in (("Tver", 20), ("Omsk", 100), ("Other", 800))
         for t, u in enumerate(rng.poisson(n, size=40))],
        columns=["city", "slot", "messenger_users", "messages"],
    )  # fmt: skip
    now = pd.DataFrame([("Tver", 20, 30), ("Omsk", 125, 137), ("Other", 800, 880)],
                       columns=["city", "messenger_users", "messages"])  # fmt: skip
    result = explain(now, base, "messages", expected_total=1012, dimensions=("city",), min_users=0,
                     driver="messenger_users")  # fmt: skip
    assert [s.segment for s in result.segments[:2]] == [(("city", "Tver"),), (("city", "Omsk"),)]
    assert result.segments[0].score > 3 * result.segments[1].score
    assert result.segments[0].unit_change == pytest.approx(0.36, abs=0.1)  # per sender, not more senders


def test_a_messages_drop_is_judged_on_the_messages_not_on_a_chance_dip_per_sender() -> None:
    """A drop thins messages: with ≈ 1.1 per sender it removes most senders with their message, so Tver's messages
    fall 40 % and its senders 37 %, its messages per sender 4 %. Omsk's 200 senders always sent 1.1 messages each;
    now they send 1.03 (−6 %): within the messages' noise, but far outside that of messages per sender, which never
    moved before. Judged by the driver's mechanisms Omsk's dip per sender would lead; on the messages themselves the
    drop is Tver's — and each segment still reports its senders' change."""
    rng = np.random.default_rng(8)
    rows = []
    for t in range(40):
        tver, omsk, other = (int(n) for n in rng.poisson((100, 200, 800)))
        rows += [("Tver", t, tver, tver + int(rng.poisson(0.1 * tver))), ("Omsk", t, omsk, round(1.1 * omsk)),
                 ("Other", t, other, other + int(rng.poisson(0.1 * other)))]  # fmt: skip
    base = pd.DataFrame(rows, columns=["city", "slot", "messenger_users", "messages"])
    now = pd.DataFrame([("Tver", 62, 66), ("Omsk", 200, 207), ("Other", 800, 880)],
                       columns=["city", "messenger_users", "messages"])  # fmt: skip
    kw = {"expected_total": 1210, "dimensions": ("city",), "min_users": 0, "driver": "messenger_users"}
    result = explain(now, base, "messages", **kw)
    assert result.segments[0].segment == (("city", "Tver"),)
    assert result.segments[0].change == pytest.approx(-0.4, abs=0.03)
    assert result.segments[0].driver_change == pytest.approx(-0.38, abs=0.03)  # senders, still reported
    # a spike is still judged by the mechanisms: the same cells mirrored upwards name Omsk's rise per sender
    up = now.assign(messages=[110 + 44, 220 + 13, 880], messenger_users=[100 + 38, 200, 800])
    spike = explain(up, base, "messages", **{**kw, "expected_total": 1210})
    assert spike.segments[0].segment == (("city", "Omsk"),)


def test_a_segment_whose_likes_per_view_fell_is_named_although_a_burst_of_views_lifted_its_likes() -> None:
    """A likes drop (1080 expected, 1064 seen): Tver's views doubled by a burst (400 → 800), and its likes per view
    fell from 0.2 to 0.12, so its likes *rose* (80 → 96) — had each view been liked as before, the slice would have
    64 more. Omsk's and the rest's views dipped 6 % and 2.5 %, each view liked as usual. Tver's rate is the drop;
    judged only among segments whose likes fell it would not be listed at all. Its share of the deviation, from
    the count, is negative, and the split shows why: views +100 %, likes per view −40 %."""
    rng = np.random.default_rng(3)
    rows = []
    for t in range(40):
        for city, views in (("Tver", 400), ("Omsk", 1000), ("Other", 4000)):
            v = int(rng.poisson(views))
            rows.append((city, t, v, int(rng.binomial(v, 0.2))))
    base = pd.DataFrame(rows, columns=["city", "slot", "views", "likes"])
    now = pd.DataFrame([("Tver", 800, 96), ("Omsk", 940, 188), ("Other", 3900, 780)],
                       columns=["city", "views", "likes"])  # fmt: skip
    result = explain(now, base, "likes", expected_total=1080, dimensions=("city",), min_users=0, driver="views")
    top = result.segments[0]
    assert top.segment == (("city", "Tver"),)
    assert top.share < 0 < top.change
    assert (top.driver_change, top.unit_change) == (pytest.approx(1.0, abs=0.05), pytest.approx(-0.4, abs=0.05))
