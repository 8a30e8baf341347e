"""Charts: plotly figures in one house style, rendered to PNG by one kaleido session per run."""

from feedpulse.charts.render import ChartRenderer, chromium_path
from feedpulse.charts.style import apply_style, number

__all__ = ["ChartRenderer", "apply_style", "chromium_path", "number"]
