"""The house style of feedpulse charts: readable on a phone, thousands separators, titles."""

from __future__ import annotations

import plotly.graph_objects as go

PALETTE = ["#2563eb", "#f97316", "#16a34a", "#dc2626", "#7c3aed", "#0891b2", "#ca8a04"]
FONT = "DejaVu Sans, Arial, sans-serif"


def apply_style(figure: go.Figure, title: str, width: int = 1000, height: int = 600) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0.02, "xanchor": "left", "font": {"size": 22}},
        template="plotly_white",
        colorway=PALETTE,
        font={"family": FONT, "size": 15},
        width=width,
        height=height,
        margin={"l": 70, "r": 30, "t": 80, "b": 60},
        legend={"orientation": "h", "yanchor": "bottom", "y": -0.25, "x": 0},
        separators=". ",  # decimal point, thin-space thousands separator
        hovermode="x unified",
    )
    figure.update_yaxes(tickformat=",~r", rangemode="tozero", gridcolor="#e5e7eb")
    figure.update_xaxes(gridcolor="#f3f4f6")
    return figure


def number(value: float, digits: int = 0) -> str:
    """1234567 → '1 234 567' (thin spaces, as in the reports)."""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u2009")
