"""PNG rendering with kaleido (plotly's exporter, driving Debian's chromium).

A cold export starts a browser (seconds); ``ChartRenderer`` starts kaleido's sync server once
and renders every figure of a run through it, so a report's charts cost ~0.1 s each after the
first. Use it as a context manager around all the charts of one run.
"""

from __future__ import annotations

import os
import shutil
import warnings
from types import TracebackType

import plotly.graph_objects as go

from feedpulse.config import settings

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium_path() -> str | None:
    """The browser kaleido will use (BROWSER_PATH wins), or None if there is none."""
    explicit = settings().browser_path
    if explicit and os.path.exists(explicit):
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class ChartRenderer:
    """Renders plotly figures to PNG bytes through one kaleido browser session."""

    def __init__(self, scale: float = 2.0) -> None:
        self.scale = scale
        self._started = False

    def __enter__(self) -> ChartRenderer:
        import kaleido

        browser = chromium_path()
        if browser is None:
            raise RuntimeError(
                "no Chromium found: install Debian's `chromium` (apt-get install -y chromium) "
                "or set BROWSER_PATH; kaleido needs it to render charts"
            )
        kaleido.start_sync_server(silence_warnings=True, path=browser)
        self._started = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._started:
            import kaleido

            kaleido.stop_sync_server(silence_warnings=True)
            self._started = False

    def png(self, figure: go.Figure, width: int | None = None, height: int | None = None) -> bytes:
        width = width or int(figure.layout.width or 1000)
        height = height or int(figure.layout.height or 600)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "kopts ignored when using a server"
            return figure.to_image(format="png", width=width, height=height, scale=self.scale)
