"""Superset dashboards over the dbt marts: install, run, and import dashboards-as-code (issue 18)."""
