"""dbt's `target` for sqlfluff's jinja templater (lint only)."""

name = "dev"
schema = "analytics"
