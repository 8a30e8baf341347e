"""The one policy for names that reach SQL as identifiers (databases, tables).

Values are always passed as query parameters; an identifier cannot always be (DDL, dbt relations),
so every name that reaches SQL text is checked here first, at the boundary where it enters
feedpulse: settings, CLI options, Dagster run config. The dbt project applies the same pattern in
``macros/identifiers.sql`` (a test keeps the two equal).

The pattern is deliberately narrower than ClickHouse's quoted identifiers: ASCII letters, digits and
``_``, not starting with a digit, at most 64 characters — enough for every database and table name
feedpulse uses, and nothing that needs quoting or escaping. ``re.fullmatch`` is used, not ``match``
with ``$``, because ``$`` also matches before a trailing newline.
"""

from __future__ import annotations

import re

IDENTIFIER_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


class InvalidIdentifierError(ValueError):
    """A name that would reach SQL is not a plain identifier."""


def is_identifier(name: object) -> bool:
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


def check_identifier(name: object, what: str = "database name") -> str:
    """``name`` unchanged if it is a plain identifier; else an error that names ``what`` and the value."""
    if not is_identifier(name):
        raise InvalidIdentifierError(
            f"{what} must be a plain identifier (ASCII letters, digits and _, not starting with a digit, "
            f"at most 64 characters), got {name!r}"
        )
    return name  # type: ignore[return-value]


def quoted(name: str, what: str = "database name") -> str:
    """The checked identifier in backticks, for SQL text that cannot take a parameter (DDL)."""
    return f"`{check_identifier(name, what)}`"


# --- scratch databases --------------------------------------------------------------------------
# A tool that needs a database for a while (``feedpulse alerts evaluate`` simulates weeks into one)
# creates it under a reserved prefix and drops only what it created: a scratch name always starts
# with SCRATCH_PREFIX, so it is never `test`, `analytics`, `simulator`, `system` or `default`; and
# it is created without IF NOT EXISTS, so an existing database of that name (whatever it holds) is
# refused, even one created concurrently. The lifecycle is feedpulse.scratch.scratch_database.

SCRATCH_PREFIX = "feedpulse_scratch_"


def scratch_name() -> str:
    """A new scratch database name: ``feedpulse_scratch_<32 hex digits>`` (a random UUID)."""
    import uuid

    return f"{SCRATCH_PREFIX}{uuid.uuid4().hex}"


def is_scratch_name(name: object) -> bool:
    return is_identifier(name) and str(name).startswith(SCRATCH_PREFIX) and len(str(name)) > len(SCRATCH_PREFIX)


def check_scratch_name(name: object, what: str = "scratch database") -> str:
    """``name`` if it is a plain identifier under the reserved prefix; else an error naming ``what``."""
    check_identifier(name, what)
    if not is_scratch_name(name):
        raise InvalidIdentifierError(
            f"{what} must start with {SCRATCH_PREFIX!r} (a database the tool creates and drops; existing "
            f"databases such as test, analytics or the source database are never used), got {name!r}"
        )
    return name  # type: ignore[return-value]
