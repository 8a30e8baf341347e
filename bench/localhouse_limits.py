"""Hostile clients vs a private local endpoint: latency of /ping and a small SELECT from another
client, quiet and with 2,000 half-open and 400 stalled connections (issue 14's measure).

    .venv/bin/python bench/localhouse_limits.py [--samples 200]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import private_endpoint


def latencies(url: str, samples: int) -> tuple[list[float], list[float]]:
    pings, selects = [], []
    for _ in range(samples):
        started = time.perf_counter()
        requests.get(f"{url}/ping", timeout=10).raise_for_status()
        pings.append(time.perf_counter() - started)
        started = time.perf_counter()
        requests.post(url, data="SELECT 1", timeout=10).raise_for_status()
        selects.append(time.perf_counter() - started)
    return pings, selects


def hostile(port: int, table: str) -> list[socket.socket]:
    socks = []
    for i in range(2000):  # half-open: connected, nothing or half a request line sent
        sock = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            sock.sendall(b"GET /?query=SELECT")
        socks.append(sock)
    query = urllib.parse.quote(f"INSERT INTO {table} FORMAT TSV")
    head = f"POST /?query={query} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n1\n2\n".encode()
    for _ in range(400):  # stalled inserts: headers and a few rows of a 10 MB body, then nothing
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(head)
        socks.append(sock)
    return socks


def row(name: str, values: list[float]) -> list[str]:
    ordered = sorted(values)
    p90 = ordered[int(len(ordered) * 0.9)]
    return [name, f"{statistics.median(values) * 1000:.1f}", f"{p90 * 1000:.1f}", f"{max(values) * 1000:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with private_endpoint() as bench:
        url = f"http://127.0.0.1:{bench.port}"
        bench.client.command("CREATE TABLE default.stalled (x UInt32) ENGINE = MergeTree ORDER BY x")
        quiet = latencies(url, args.samples)
        socks = hostile(bench.port, "default.stalled")
        try:
            time.sleep(1)
            loaded = latencies(url, args.samples)
        finally:
            for sock in socks:
                sock.close()
    table = Table(title="local endpoint under hostile clients (ms)")
    for column in ("request", "median", "p90", "max"):
        table.add_column(column, justify="right")
    table.add_row(*row("/ping, quiet", quiet[0]))
    table.add_row(*row("SELECT 1, quiet", quiet[1]))
    table.add_row(*row("/ping, 2,000 half-open + 400 stalled", loaded[0]))
    table.add_row(*row("SELECT 1, 2,000 half-open + 400 stalled", loaded[1]))
    Console().print(table)


if __name__ == "__main__":
    main()
