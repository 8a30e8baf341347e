"""What the local endpoint cannot do that a ClickHouse server does (one list, used by the doctor
and explained in docs/local-endpoint.md)."""

from __future__ import annotations

DISPLAY_NAME = "feedpulse-localhouse"  # X-ClickHouse-Server-Display-Name of the local endpoint

DIFFERENCES = (
    "no access control (CREATE USER/ROLE, GRANT, row policies: chDB keeps no users; one user/password for all)",
    "no system.query_log (engine totals at /feedpulse/stats instead)",
    "HTTP only: no native TCP port, no TLS, no interserver/replication",
    "compressed INSERT bodies are verified to the end before the first row is written (ClickHouse writes "
    "block by block)",
    "client_protocol_version is accepted but Native output stays at the engine's default revision",
)
