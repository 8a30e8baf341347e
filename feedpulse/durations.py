"""The one duration parser: ``"90s"``, ``"45m"``, ``"2h"``, ``"1d"``, ``"1w"``, ``"1h30m"``, ``"1.5h"``.

Used by the alerts config (``repeat_interval``), silences (``--for``) and the simulator's anomaly
files (``duration``), which used to have three parsers that disagreed (a bare number meant minutes
in one and seconds in another; ``1h30m`` worked in one only; none had an upper bound, so
``--for 99999999999h`` overflowed ``timedelta`` with a traceback).

Rules:

- a string is one or more ``<number><unit>`` terms (units ``s``, ``m``/``min``, ``h``, ``d``,
  ``w``, lower case: ``M`` could be read as months; spaces between terms allowed); numbers are
  decimal (``1.5h``), never exponents or signs;
- a bare number (YAML ``duration: 90``) is seconds; a :class:`datetime.timedelta` is taken as is;
- the result must lie within ``[minimum, maximum]`` (callers pass their own bounds; by default
  more than zero and at most 366 days). Bounds are checked on the number of seconds before a
  ``timedelta`` is built, so no input can overflow.

Errors are :class:`ValueError` with a message that quotes the value and the accepted forms;
callers prefix the field or option they parse.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_TERM = re.compile(r"(\d+(?:\.\d+)?)\s*(min|[smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?\s*(?:min|[smhdw])\s*)+")
DEFAULT_MAXIMUM = dt.timedelta(days=366)
EXAMPLES = "90s, 45m, 2h, 1d or 1h30m"


def format_duration(value: dt.timedelta) -> str:
    """``timedelta(hours=26)`` → ``"1d2h"`` (days at most, largest first; seconds only when needed)."""
    seconds = round(value.total_seconds())
    if seconds <= 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        amount, seconds = divmod(seconds, UNIT_SECONDS[unit])
        if amount:
            out.append(f"{amount}{unit}")
    return "".join(out)


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as {EXAMPLES}, got {value!r}")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"expected a duration such as {EXAMPLES}, got {value!r}")
        return seconds
    text = str(value).strip() if isinstance(value, str) else ""
    if not text or not _WHOLE.fullmatch(text):
        raise ValueError(f"expected a duration such as {EXAMPLES}, got {value!r}")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in _TERM.findall(text))


def parse_duration(
    value: Any,
    *,
    minimum: dt.timedelta | None = None,
    maximum: dt.timedelta = DEFAULT_MAXIMUM,
) -> dt.timedelta:
    """``value`` as a timedelta within ``(0, maximum]`` (or ``[minimum, maximum]``); see the module docstring."""
    seconds = _seconds(value)
    if minimum is None:
        if seconds <= 0:
            raise ValueError(f"duration must be positive, got {value!r}")
    elif seconds < minimum.total_seconds():
        raise ValueError(f"duration must be at least {format_duration(minimum)}, got {value!r}")
    if seconds > maximum.total_seconds():
        raise ValueError(f"duration must be at most {format_duration(maximum)}, got {value!r}")
    return dt.timedelta(seconds=seconds)
