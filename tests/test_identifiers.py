"""The one identifier policy: what may reach SQL as a database or table name."""

from __future__ import annotations

import pytest

from feedpulse.identifiers import InvalidIdentifierError, check_identifier, is_identifier, quoted


@pytest.mark.parametrize("name", ["simulator", "test", "_scratch", "db_2026", "A" * 64])
def test_plain_names_pass(name):
    assert check_identifier(name) == name
    assert quoted(name) == f"`{name}`"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "simulator\n",  # `$` in a regex would accept this trailing newline
        "a`; DROP TABLE test.daily_slice_metrics; --",
        "sim.ulator",
        "1db",
        "db-name",
        "имя",
        "A" * 65,
        None,
        42,
    ],
)
def test_anything_else_is_rejected_with_the_value_named(name):
    assert not is_identifier(name)
    with pytest.raises(InvalidIdentifierError, match="source database"):
        check_identifier(name, "source database")
