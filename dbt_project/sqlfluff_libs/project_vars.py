"""The project's own vars (dbt_project.yml) for sqlfluff's jinja templater: the metric layer's
definitions (var metrics) shape the SQL of the models that compile them, so lint renders those
models as dbt does instead of with an empty definition."""

from pathlib import Path

import yaml

VARS = yaml.safe_load((Path(__file__).resolve().parents[1] / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
