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

import functools
import itertools
import re
from dataclasses import dataclass

from feedpulse.localhouse.errors import ClickHouseError

_LEADING_RE = re.compile(r"(?:\s+|--[^\n]*|\#[ !][^\n]*)*")
_FIRST_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\(")

# Statements allowed in readonly mode (``readonly = 1``); level 2 adds changing settings and USE.
_READ_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "("})
_SETTINGS_KEYWORDS = frozenset({"SET", "USE"})


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "quoted", "string", "semicolon", "other"
    text: str
    start: int


_TOKEN_RE = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<line>(?:--|\#[ !])[^\n]*)
    | (?P<block>/\*)
    | (?P<string>'(?:[^'\\]+|\\.|'')*(?:'|\Z))
    | (?P<quoted>"(?:[^"\\]+|\\.|"")*(?:"|\Z)|`(?:[^`\\]+|\\.|``)*(?:`|\Z))
    | (?P<heredoc>\$[A-Za-z0-9_]*\$)
    | (?P<semicolon>;)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<other>[0-9][0-9A-Za-z_.]*|.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokens(sql: str) -> list[Token]:
    """Significant tokens (comments and whitespace dropped); an unterminated literal ends the text."""
    out: list[Token] = []
    pos, end = 0, len(sql)
    while pos < end:
        match = _TOKEN_RE.match(sql, pos)
        kind = match.lastgroup
        stop = match.end()
        if kind == "block":
            stop = _block_comment_end(sql, pos)
        elif kind == "heredoc":
            close = sql.find(match.group(0), stop)
            stop = end if close < 0 else close + len(match.group(0))
            out.append(Token("string", sql[pos:stop], pos))
        elif kind not in ("ws", "line"):
            out.append(Token(kind, match.group(0), pos))
        pos = stop
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


class Statement:
    """What the HTTP rules need to know of one query text (tokenized only when needed)."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        # Without a ';' there is no second statement; without OUTFILE no INTO OUTFILE: the common
        # case skips the full tokenization (it runs for every query the endpoint answers).
        self._needs_tokens = ";" in sql or "outfile" in sql.lower()
        self.keyword = self._first_keyword() if not self._needs_tokens else self._keyword_from_tokens()

    @functools.cached_property
    def all_tokens(self) -> list[Token]:
        return tokens(self.sql)

    @functools.cached_property
    def _first_semicolon(self) -> int | None:
        return next((i for i, t in enumerate(self.all_tokens) if t.kind == "semicolon"), None)

    @property
    def tokens(self) -> list[Token]:
        """The first statement's tokens."""
        first = self._first_semicolon
        return self.all_tokens if first is None else self.all_tokens[:first]

    @property
    def extra_at(self) -> int | None:
        """Where a second statement starts (the top-level ``;`` before it), if there is one."""
        if not self._needs_tokens or self._first_semicolon is None:
            return None
        rest = self.all_tokens[self._first_semicolon :]
        return rest[0].start if any(t.kind != "semicolon" for t in rest) else None

    @property
    def is_values_insert(self) -> bool:
        words = [t.text.upper() for t in self.tokens if t.kind == "word"]
        return self.keyword == "INSERT" and "VALUES" in words and "SELECT" not in words

    def _first_keyword(self) -> str:
        start = _LEADING_RE.match(self.sql).end()
        while self.sql.startswith("/*", start):  # nested block comments, as the lexer reads them
            start = _LEADING_RE.match(self.sql, _block_comment_end(self.sql, start)).end()
        match = _FIRST_WORD_RE.match(self.sql, start)
        if match is None:
            return self._keyword_from_tokens()
        return match.group(0).upper()

    def _keyword_from_tokens(self) -> str:
        toks = self.tokens
        return toks[0].text.upper() if toks else ""


def statement(sql: str) -> Statement:
    return Statement(sql)


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
    if not stmt._needs_tokens:
        return stmt
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
