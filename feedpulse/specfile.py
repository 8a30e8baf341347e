"""YAML spec files (anomalies, experiments): one reader and one error type, so every problem names
the file, the entry and the field the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class SpecError(ValueError):
    """A spec file or entry is invalid; the message names the entry and the field."""


def load_spec_file(path: str | Path, parse: Callable[[Any], T]) -> T:
    """Read a YAML spec file and validate it with ``parse``; every error names the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
