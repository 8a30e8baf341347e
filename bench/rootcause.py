"""Root-cause harness with the explainer's input kept, and offline re-runs of the explainer on it (issue 17).

``collect``: the harness (:func:`feedpulse.alerts.rootcause.run_seed`) on the seeds, each plant's cells,
the detector's expectation and outcome pickled into ``--out`` (one file per seed) — ≈ 1 min and ≈ 200 MB
per seed at scale 1 with 3 test days. Starts the local endpoint: set ``FEEDPULSE_HOME`` and
``CLICKHOUSE_PORT`` for a private one. ``--ceiling-replicas 20``: each plant also keeps the ceiling's answers
(:func:`feedpulse.alerts.rootcause.ceiling`; ≈ 3 min per seed), which ``replay`` reports beside the explainer's.

``replay``: the explainer again on the kept cells with other constants (``--set NAME=VALUE`` for
:func:`feedpulse.alerts.explain.explain`'s keyword arguments; ``driver`` defaults to the metric's
``per_user_of`` in the shipped alerts.yaml, as in the harness, and ``--set driver=null`` reads the counts
alone), the hit rates as the harness counts them. Re-running with the shipped constants reproduces the
harness's outcomes (checked: ``changed_vs_harness`` = 0 on cells collected with the same code).
``--mechanism rate`` (or ``audience``) judges a count's driver by that mechanism alone (the other's z² set
to 0). ``--audience``: the views explainer at the feed_users plants — users vanished and their views with
them, views per user unchanged: the mechanism the harness's views plants never exercise.

    PYTHONPATH=$PWD .venv/bin/python bench/rootcause.py collect --seeds 7,42 --out /tmp/rc-tune
    PYTHONPATH=$PWD .venv/bin/python bench/rootcause.py replay /tmp/rc-tune --set pair_z=2.5
    PYTHONPATH=$PWD .venv/bin/python bench/rootcause.py replay /tmp/rc-tune --ctr --set ratio_noise=false
    PYTHONPATH=$PWD .venv/bin/python bench/rootcause.py replay /tmp/rc-tune --audience --mechanism rate

Tune on the tuning seeds only (:data:`feedpulse.alerts.evaluate.TUNING_SEEDS`: 42 and 1–20); held-out seeds
(101–180 so far) are for the final measurement.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from feedpulse.alerts import explain as explain_module
from feedpulse.alerts.config import default_config
from feedpulse.alerts.evaluate import parse_seeds
from feedpulse.alerts.explain import explain
from feedpulse.alerts.rootcause import OVER_SEEDS, _hit, over_seeds, summarise


def collect(seeds: list[int], out: Path, per_day: int, test_days: int, scale: float, ceiling_replicas: int = 0) -> None:
    from feedpulse.alerts.rootcause import run_seed
    from feedpulse.clickhouse import get_client

    out.mkdir(parents=True, exist_ok=True)
    client = get_client()
    try:
        for seed in seeds:
            began = time.perf_counter()
            kept: list[tuple[Any, ...]] = []
            outcomes = run_seed(
                client,
                seed,
                scale=scale,
                per_day=per_day,
                test_days=test_days,
                keep_cells=kept.append,
                ceiling_replicas=ceiling_replicas,
            )
            records = [(o, cur, base, expected) for o, (_, cur, base, expected) in zip(outcomes, kept, strict=True)]
            with (out / f"seed{seed}.pkl").open("wb") as fh:
                pickle.dump(records, fh, protocol=pickle.HIGHEST_PROTOCOL)
            took = time.perf_counter() - began
            print(json.dumps({"seed": seed, "plants": len(outcomes), "seconds": round(took, 1)}), flush=True)
    finally:
        client.close()


def _only(mechanism: str) -> None:
    """Judge a count's driver by one mechanism: the other's z² is 0 (``both``: as shipped)."""

    def zero(*args: Any) -> float:
        return 0.0

    if mechanism == "rate":
        explain_module._audience_z2 = zero
    elif mechanism == "audience":
        explain_module._rate_z2 = zero


def _audience_input(outcome: Any, current: Any, baseline: Any, expected: float) -> tuple[Any, float] | None:
    """A feed_users plant as a views plant (``--audience``): the views' expectation at the detector's expectation
    of feed users × the baseline's views per feed user; None for other plants."""
    if outcome.plant.metric != "feed_users":
        return None
    plant = replace(outcome.plant, metric="views")
    views_expected = float(baseline["views"].sum()) * expected / float(baseline["feed_users"].sum())
    return replace(outcome, plant=plant), views_expected


def replay(directory: Path, options: dict[str, Any], audience: bool = False) -> dict[str, Any]:
    config = default_config()
    outcomes, mismatches = [], 0
    for path in sorted(directory.glob("seed*.pkl")):
        with path.open("rb") as fh:
            records = pickle.load(fh)
        for outcome, current, baseline, expected in records:
            if audience:
                swapped = _audience_input(outcome, current, baseline, expected)
                if swapped is None:
                    continue
                outcome, expected = swapped
            plant = outcome.plant
            kwargs = {"driver": config.metrics[plant.metric].per_user_of, **options}
            result = explain(current, baseline, plant.metric, expected_total=expected, **kwargs)
            top = tuple(s.segment for s in result.top(3))
            mismatches += top != outcome.top
            outcomes.append(replace(outcome, top=top, top1=_hit(top[:1], plant.segment), top3=_hit(top, plant.segment)))
    summary = summarise(outcomes)
    per_seed = {
        str(seed): summarise([o for o in outcomes if o.seed == seed]) for seed in sorted({o.seed for o in outcomes})
    }
    seeds = {seed: {g: (r[g]["n"], r[g]["top1"], r[g]["top3"]) for g in OVER_SEEDS} for seed, r in per_seed.items()}
    return {
        "options": options, "over_seeds": over_seeds(per_seed), "per_seed": seeds, "plants": len(outcomes),
        "changed_vs_harness": mismatches, "carrying_20_plus": summary["carrying_20_plus"],
        "fired": summary["carrying_20_plus_fired"],
        "by_metric": {m: (r["top1"], r["top3"], r["n"]) for m, r in summary["by_metric"].items()},
        "single": summary["single"], "pair": summary["pair"],
    }  # fmt: skip


def replay_ctr(directory: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The CTR explainer on the kept cells of the likes and views plants: a plant confined to one segment moves
    that segment's CTR (likes: its rate; views: its rate and its views share). The expected CTR is the
    baseline's (the kept cells carry the detector's expectation of the planted count, not of CTR); the
    carried share is the plant's part of the CTR's deviation (the clean count from the harness's own carried
    share). Hit rule and the ≥ 20 % subset as the harness's."""
    from feedpulse.alerts.rootcause import CARRY_TARGET, rates

    by_metric: dict[str, list[Any]] = {"likes": [], "views": []}
    for path in sorted(directory.glob("seed*.pkl")):
        with path.open("rb") as fh:
            records = pickle.load(fh)
        for outcome, current, baseline, expected in records:
            plant = outcome.plant
            if plant.metric not in by_metric:
                continue
            likes, views = float(current["likes"].sum()), float(current["views"].sum())
            observed = likes / views
            if plant.metric == "likes":
                clean = (likes - outcome.carried * (likes - expected)) / views
            else:
                clean = likes / (views - outcome.carried * (views - expected))
            deviation = observed - float(baseline["likes"].sum()) / float(baseline["views"].sum())
            carried = (observed - clean) / deviation if deviation else 0.0
            result = explain(current, baseline, "ctr", **options)
            top = tuple(s.segment for s in result.top(3))
            hits = {"top1": _hit(top[:1], plant.segment), "top3": _hit(top, plant.segment)}
            by_metric[plant.metric].append(replace_outcome(outcome, top, carried=carried, **hits))
    both = [o for items in by_metric.values() for o in items]
    carrying = {m: rates([o for o in items if o.carried >= CARRY_TARGET]) for m, items in by_metric.items()}
    per_seed = {
        s: rates([o for o in both if o.seed == s and o.carried >= CARRY_TARGET]) for s in {o.seed for o in both}
    }
    over = {}
    for figure in ("top1", "top3"):
        values = {s: r[figure] for s, r in per_seed.items() if r[figure] is not None}
        worst = min(values, key=values.__getitem__)
        over[figure] = {"mean": sum(values.values()) / len(values), "worst": values[worst], "worst_seed": worst}
    return {"options": options, "carrying_20_plus": rates([o for o in both if o.carried >= CARRY_TARGET]), **carrying,
            "over_seeds": over}  # fmt: skip


def replace_outcome(outcome: Any, top: Any, **changes: Any) -> Any:
    return replace(outcome, top=top, **changes)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--seeds", default="7,42")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--plants", type=int, default=22)
    c.add_argument("--test-days", type=int, default=3)
    c.add_argument("--scale", type=float, default=1.0)
    c.add_argument("--ceiling-replicas", type=int, default=0, help="the ceiling's answers kept with each plant")
    r = sub.add_parser("replay")
    r.add_argument("directory", type=Path)
    r.add_argument("--set", action="append", default=[], help="NAME=VALUE keyword argument of explain()")
    r.add_argument("--ctr", action="store_true", help="the CTR explainer on the likes and views plants")
    r.add_argument("--audience", action="store_true", help="the views explainer at the feed_users plants")
    r.add_argument("--mechanism", choices=("both", "rate", "audience"), default="both")
    args = parser.parse_args()
    if args.command == "collect":
        collect(parse_seeds(args.seeds), args.out, args.plants, args.test_days, args.scale, args.ceiling_replicas)
    else:
        options = {k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}
        _only(args.mechanism)
        report = replay_ctr(args.directory, options) if args.ctr else replay(args.directory, options, args.audience)
        print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
