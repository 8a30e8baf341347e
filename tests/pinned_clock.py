"""Run a Dagster command with feedpulse's clock pinned: ``python -m tests.pinned_clock ISO_TIME dagster ARGS...``.

The anomaly sensor asks the ClickHouse server for "now" (``feedpulse.clickhouse.server_now``); a
code server started through this module answers the pinned wall-clock time instead, so a sensor
tick of the real daemon evaluates a chosen bucket of pinned test data. Everything else — the
daemon, run workers, Dagster's own timestamps — keeps the real clock.
"""

from __future__ import annotations

import datetime as dt
import sys


def main() -> None:
    pinned = dt.datetime.fromisoformat(sys.argv[1])
    if sys.argv[2] != "dagster":
        raise SystemExit("usage: python -m tests.pinned_clock ISO_TIME dagster ARGS...")

    import feedpulse.clickhouse

    feedpulse.clickhouse.server_now = lambda client: pinned  # before orchestration imports it

    from dagster._cli import main as dagster_main

    sys.argv = ["dagster", *sys.argv[3:]]
    dagster_main()


if __name__ == "__main__":
    main()
