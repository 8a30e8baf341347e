"""dbt's `exceptions` for sqlfluff's jinja templater (lint only): a compiler error renders as nothing."""


def raise_compiler_error(message: str) -> str:
    return ""
