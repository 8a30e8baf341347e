"""Daily reports (feed report, app report) and the monitoring dashboard."""
