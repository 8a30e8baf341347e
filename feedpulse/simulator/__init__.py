"""Event simulator: realistic feed + messenger events generated inside ClickHouse.

Public API (others build on it)::

    simulate(client, start=…, days=…, scale=1.0, seed=42, database="simulator", anomalies=None,
             experiment=None, progress=False) -> SimulationResult
    simulate_live(client, …, interval_seconds=60, stop=None, max_iterations=None) -> None
    measure(client, start=…, days=…, scale=1.0, database="simulator") -> list[ReportRow]
    measure_shape(client, start=…, days=…, database="simulator") -> list[ShapeRow]
    load_anomalies(path) -> AnomalySpec;  load_experiment(path) -> ExperimentSpec
    ensure_tables(client, database) -> None
"""

from feedpulse.experiments.spec import ExperimentSpec, load_experiment
from feedpulse.simulator.anomalies import Anomaly, AnomalySpec, load_anomalies
from feedpulse.simulator.report import ReportRow, ShapeRow, measure, measure_shape
from feedpulse.simulator.run import SimulationResult, ensure_tables, simulate, simulate_live
from feedpulse.simulator.sql import SimulationError
from feedpulse.specfile import SpecError

__all__ = [
    "Anomaly",
    "AnomalySpec",
    "ExperimentSpec",
    "ReportRow",
    "ShapeRow",
    "SimulationError",
    "SimulationResult",
    "SpecError",
    "ensure_tables",
    "load_anomalies",
    "load_experiment",
    "measure",
    "measure_shape",
    "simulate",
    "simulate_live",
]
