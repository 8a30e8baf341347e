"""A lexer for ClickHouse SQL, just deep enough to enforce the HTTP interface's statement rules.

ClickHouse's HTTP handler parses exactly one statement (``allow_multi_statements = false``) and
refuses INTO OUTFILE; GET requests run with ``readonly = 2``. chDB, being clickhouse-local, runs
every statement of a multi-statement text and writes INTO OUTFILE files, so the endpoint must
find statement boundaries itself. A naive split on ``;`` is wrong both ways (``';'`` in a string,
a comment or a quoted identifier is no boundary), so this follows ClickHouse's own lexer
(src/Parsers/Lexer.cpp): whitespace, ``--`` / ``# `` / ``#!`` line comments, nested ``/* */``
comments, ``'…'`` strings and ``"…"`` / ```…``` identifiers with backslash escapes and doubled
quotes, ``$tag$…$tag$`` heredocs, and everything else as plain tokens.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from feedpulse.localhouse.errors import ClickHouseError

_WHITESPACE = frozenset(" \t\n\r\f\v")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEREDOC_RE = re.compile(r"\$([A-Za-z0-9_]*)\$")
_NUMBER_RE = re.compile(r"[0-9][0-9A-Za-z_.]*")

# Statements allowed in readonly mode (``readonly = 1``); level 2 adds changing settings and USE.
_READ_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "("})
_SETTINGS_KEYWORDS = frozenset({"SET", "USE"})


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "quoted", "string", "semicolon", "other"
    text: str
    start: int


def tokens(sql: str) -> list[Token]:
    """Significant tokens (comments and whitespace dropped); an unterminated literal ends the text."""
    out: list[Token] = []
    pos, end = 0, len(sql)
    while pos < end:
        char = sql[pos]
        if char in _WHITESPACE:
            pos += 1
        elif sql.startswith("--", pos) or sql.startswith("# ", pos) or sql.startswith("#!", pos):
            newline = sql.find("\n", pos)
            pos = end if newline < 0 else newline + 1
        elif sql.startswith("/*", pos):
            pos = _block_comment_end(sql, pos)
        elif char in "'\"`":
            stop = _quoted_end(sql, pos, char)
            out.append(Token("string" if char == "'" else "quoted", sql[pos:stop], pos))
            pos = stop
        elif char == "$" and (heredoc := _HEREDOC_RE.match(sql, pos)):
            close = sql.find(heredoc.group(0), heredoc.end())
            stop = end if close < 0 else close + len(heredoc.group(0))
            out.append(Token("string", sql[pos:stop], pos))
            pos = stop
        elif char == ";":
            out.append(Token("semicolon", ";", pos))
            pos += 1
        elif word := _WORD_RE.match(sql, pos):
            out.append(Token("word", word.group(0), pos))
            pos = word.end()
        elif number := _NUMBER_RE.match(sql, pos):
            out.append(Token("other", number.group(0), pos))
            pos = number.end()
        else:
            out.append(Token("other", char, pos))
            pos += 1
    return out


def _block_comment_end(sql: str, pos: int) -> int:
    depth, pos = 1, pos + 2
    while pos < len(sql) and depth:
        if sql.startswith("/*", pos):
            depth, pos = depth + 1, pos + 2
        elif sql.startswith("*/", pos):
            depth, pos = depth - 1, pos + 2
        else:
            pos += 1
    return pos


def _quoted_end(sql: str, pos: int, quote: str) -> int:
    pos += 1
    while pos < len(sql):
        char = sql[pos]
        if char == "\\":
            pos += 2
        elif char == quote:
            if sql.startswith(quote, pos + 1):  # a doubled quote stands for itself
                pos += 2
            else:
                return pos + 1
        else:
            pos += 1
    return len(sql)


@dataclass(frozen=True)
class Statement:
    """What the HTTP rules need to know of one query text."""

    keyword: str  # first keyword, upper-cased ("" for an empty text)
    tokens: tuple[Token, ...]
    extra_at: int | None  # where a second statement starts (after a top-level ``;``), if any

    @property
    def is_values_insert(self) -> bool:
        words = [t.text.upper() for t in self.tokens if t.kind == "word"]
        return self.keyword == "INSERT" and "VALUES" in words and "SELECT" not in words


def statement(sql: str) -> Statement:
    toks = tokens(sql)
    first_semicolon = next((i for i, t in enumerate(toks) if t.kind == "semicolon"), None)
    extra_at = None
    if first_semicolon is not None:
        rest = [t for t in toks[first_semicolon:] if t.kind != "semicolon"]
        if rest:
            extra_at = toks[first_semicolon].start
        toks = toks[:first_semicolon]
    keyword = toks[0].text.upper() if toks else ""
    return Statement(keyword, tuple(toks), extra_at)


def check_single_statement(sql: str) -> Statement:
    """ClickHouse's HTTP rules for a query text: one statement, no INTO OUTFILE.

    Raises Code 62 "Multi-statements are not allowed" the way ClickHouse's parser words it; for an
    ``INSERT … VALUES`` the values are data, and ClickHouse's Values format refuses data after the
    semicolon (Code 33) instead.
    """
    stmt = statement(sql)
    if stmt.extra_at is not None:
        if stmt.is_values_insert:
            raise ClickHouseError(
                33,
                "Cannot read data after semicolon (and input_format_values_allow_data_after_semicolon=0). "
                "(CANNOT_READ_ALL_DATA)",
            )
        raise ClickHouseError(62, _multi_statement_message(sql, stmt.extra_at))
    words = [t.text.upper() if t.kind == "word" else "" for t in stmt.tokens]
    if any(a == "INTO" and b == "OUTFILE" for a, b in itertools.pairwise(words)):
        raise ClickHouseError(358, "INTO OUTFILE is not allowed. (INTO_OUTFILE_NOT_ALLOWED)")
    return stmt


def _multi_statement_message(sql: str, at: int) -> str:
    line = sql.count("\n", 0, at) + 1
    where = f" (line {line}, col {at - (sql.rfind(chr(10), 0, at) + 1) + 1})" if "\n" in sql else ""
    excerpt = sql[at : at + 100]
    return (
        f"Syntax error (Multi-statements are not allowed): failed at position {at + 1} (end of query){where}: "
        f"{excerpt}. (SYNTAX_ERROR)"
    )


def check_readonly(stmt: Statement, level: int) -> None:
    """Refuse what ClickHouse refuses at ``readonly = level`` (1: read only; 2: also settings, USE)."""
    if level <= 0:
        return
    allowed = stmt.keyword in _READ_KEYWORDS or (level >= 2 and stmt.keyword in _SETTINGS_KEYWORDS)
    if level >= 2 and stmt.keyword == "CREATE" and len(stmt.tokens) > 1:
        allowed = stmt.tokens[1].text.upper() == "TEMPORARY"
    if stmt.keyword == "SET" and "READONLY" in _assigned_settings(stmt):
        raise ClickHouseError(164, "Cannot modify 'readonly' setting in readonly mode. (READONLY)")
    if not allowed and stmt.keyword:
        raise ClickHouseError(164, "default: Cannot execute query in readonly mode. (READONLY)")


def _assigned_settings(stmt: Statement) -> set[str]:
    toks = stmt.tokens
    return {
        toks[i].text.strip('`"').upper()
        for i in range(len(toks) - 1)
        if toks[i].kind in ("word", "quoted") and toks[i + 1].text == "="
    }
