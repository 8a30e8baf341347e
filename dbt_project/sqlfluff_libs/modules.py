"""dbt's `modules` context for sqlfluff's jinja templater (lint only; dbt itself provides the real one)."""

import datetime  # noqa: F401
import re  # noqa: F401
