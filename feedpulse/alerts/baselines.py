"""The two alert rules of the original projects, vectorised and causal, for side-by-side evaluation.

- ``yesterday_pct``: compare with the same 15-minute slot yesterday; fire when
  ``|x / y − 1| > threshold`` (0.3 by default; the original projects used 0.2–0.3).
- ``iqr``: over the previous ``n = 5`` buckets, ``q25``/``q75`` and the band
  ``[q25 − a·IQR, q75 + a·IQR]`` with ``a = 3``; the bounds are smoothed by a centred rolling mean
  of window 3 (as in the original, evaluated at the last row, where the centred window only has
  the previous and the current bound); fire when the value is outside.

Missing buckets are treated as zeros, as the original queries' zero-filled series would show them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BUCKETS_PER_DAY = 96


def _filled(series: pd.Series) -> pd.Series:
    return series.astype(float).fillna(0.0)


def yesterday_pct(series: pd.Series, threshold: float = 0.3) -> pd.Series:
    """Fired flag per bucket: ``|x / x[t − 1 day] − 1| > threshold`` (no reference ⇒ no alert)."""
    x = _filled(series)
    y = x.shift(BUCKETS_PER_DAY)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = (x / y - 1).abs()
    fired = (y > 0) & (change > threshold)
    return fired.fillna(False).astype(bool).rename(series.name)


def iqr_bounds(series: pd.Series, n: int = 5, a: float = 3.0, smooth: int = 3) -> tuple[pd.Series, pd.Series]:
    """Causal smoothed lower/upper bounds of the IQR rule for each bucket."""
    x = _filled(series)
    previous = x.shift(1).rolling(n)
    q25, q75 = previous.quantile(0.25), previous.quantile(0.75)
    spread = q75 - q25
    low, up = q25 - a * spread, q75 + a * spread
    # A centred window of `smooth` evaluated at the last available row sees only the rows up to it.
    causal = smooth // 2 + 1
    return low.rolling(causal, min_periods=1).mean(), up.rolling(causal, min_periods=1).mean()


def iqr(series: pd.Series, n: int = 5, a: float = 3.0, smooth: int = 3) -> pd.Series:
    """Fired flag per bucket: the value is outside the smoothed IQR band of the previous ``n`` buckets."""
    x = _filled(series)
    low, up = iqr_bounds(series, n=n, a=a, smooth=smooth)
    fired = (x < low) | (x > up)
    return fired.fillna(False).astype(bool).rename(series.name)
