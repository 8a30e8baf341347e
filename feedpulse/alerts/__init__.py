"""15-minute anomaly alerts: metric series, the seasonal detector, the original rules and the harness.

Public API::

    load_series(client, start, end, database="simulator", slices=("total", "os")) -> DataFrame
    Detector(metric_config).evaluate(history, bucket) -> Evaluation
    evaluate_frame(frame, config, bucket) -> list[Evaluation]
    run_stream(series, metric_config) -> Series[bool]
    load_config(path) / default_config() -> AlertsConfig
"""

from feedpulse.alerts.config import (
    AlertsConfig,
    ConfigError,
    DetectorTuning,
    MetricConfig,
    Sensitivity,
    default_config,
    load_config,
    parse_config,
)
from feedpulse.alerts.detector import Detector, Evaluation, evaluate_frame, run_stream, scan
from feedpulse.alerts.series import METRICS, load_series

__all__ = [
    "METRICS",
    "AlertsConfig",
    "ConfigError",
    "Detector",
    "DetectorTuning",
    "Evaluation",
    "MetricConfig",
    "Sensitivity",
    "default_config",
    "evaluate_frame",
    "load_config",
    "load_series",
    "parse_config",
    "run_stream",
    "scan",
]
