"""Experiment definitions for the analysis: the same YAML the simulator reads (id, groups, aa
window and groups, ab window, control, treatment; `effect` only matters to the simulator).

A file holds one experiment, or several under ``experiments:``. ``FEEDPULSE_EXPERIMENTS`` names
the file; unset or missing ⇒ no experiments.
"""

from __future__ import annotations

import re
from pathlib import Path

from feedpulse.config import settings
from feedpulse.experiments.spec import ExperimentSpec, parse_experiment
from feedpulse.specfile import SpecError, load_spec_file


def load_definitions(path: str | Path) -> list[ExperimentSpec]:
    return load_spec_file(path, parse_definitions)


def parse_definitions(data: object) -> list[ExperimentSpec]:
    items = data.get("experiments") if isinstance(data, dict) and "experiments" in data else [data]
    if not isinstance(items, list):
        raise SpecError("'experiments' must be a list")
    specs = []
    for index, item in enumerate(items):
        try:
            specs.append(parse_experiment(item))
        except SpecError as exc:
            raise SpecError(f"experiment #{index + 1}: {exc}") from None
    ids = [asset_id(spec.id) for spec in specs]
    if len(set(ids)) != len(ids):
        raise SpecError(f"experiment ids must be unique (after turning them into asset names): {ids}")
    return specs


def configured() -> list[ExperimentSpec]:
    path = settings().experiments
    if path is None or not path.exists():
        return []
    return load_definitions(path)


def asset_id(experiment_id: str) -> str:
    """An experiment id as a Dagster-safe name: `feed-ranking-2026-11` → `feed_ranking_2026_11`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", experiment_id).strip("_").lower() or "experiment"
