"""Telegram HTML: safe building (escaping) and splitting to Telegram's length limits.

Building: :class:`Html` marks a string as markup that is already safe; everything else passed to
:func:`escape`, :func:`fmt` or the tag helpers (:func:`bold`, :func:`link`, …) is escaped
(``&``, ``<``, ``>`` and ``"``), so text from data can never break the message::

    fmt("<b>{}</b>: {}", name, value)        # name and value escaped, the template is trusted
    bold("DAU") + " & co " + link("dashboard", url)  # Html + str: the str is escaped

A plain ``str`` added to :class:`Html` (on either side) counts as text and is escaped, as in
MarkupSafe; to combine markup, use :func:`fmt` or wrap trusted markup in ``Html(...)``.

Splitting (:func:`split_html`): a message longer than the limit is cut on line boundaries, so the
concatenation of the parts equals the original text. Lengths are counted like Telegram counts
them (UTF-16 code units) but on the raw markup, which is never shorter than the text Telegram
measures after parsing — so every part is accepted. A single line longer than the limit is cut
hard, between tags, entities and characters (never inside a tag or an entity). Tags stay
balanced in every part: a tag still open at a cut (``<pre>`` over several lines, or a hard cut
inside ``<b>…</b>``) is closed at the end of the part and opened again at the start of the next
one — only then does the concatenation differ from the original, by those added tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_ESCAPE_RE = re.compile('[&<>"]')
_ATOM_RE = re.compile(r"<[^<>]*>|&#?[0-9A-Za-z]+;|.", re.S)
_TAG_RE = re.compile(r"<(/?)([A-Za-z][\w-]*)")
_LINE_RE = re.compile(r"[^\n]*\n|[^\n]+")


class Html(str):
    """A string of Telegram HTML that is safe as it is (not escaped again)."""

    __slots__ = ()

    def __add__(self, other: object) -> Html:
        return Html(str.__add__(self, escape(other)))

    def __radd__(self, other: object) -> Html:
        return Html(str.__add__(escape(other), self))


def escape(value: object) -> Html:
    """``value`` as Telegram HTML text: ``&``, ``<``, ``>`` and ``"`` escaped; :class:`Html` kept."""
    if isinstance(value, Html):
        return value
    return Html(_ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], str(value)))


def fmt(template: str, *args: object, **kwargs: object) -> Html:
    """``template.format`` with every argument escaped (unless it is :class:`Html`)."""
    return Html(template.format(*(escape(a) for a in args), **{k: escape(v) for k, v in kwargs.items()}))


def join(separator: str, items: Iterable[object]) -> Html:
    """Items (escaped unless :class:`Html`) joined by ``separator`` (trusted markup, e.g. ``"\\n"``)."""
    return Html(separator.join(escape(item) for item in items))


def _wrap(tag: str, content: object, attrs: str = "") -> Html:
    return Html(f"<{tag}{attrs}>{escape(content)}</{tag}>")


def bold(content: object) -> Html:
    return _wrap("b", content)


def italic(content: object) -> Html:
    return _wrap("i", content)


def underline(content: object) -> Html:
    return _wrap("u", content)


def strike(content: object) -> Html:
    return _wrap("s", content)


def spoiler(content: object) -> Html:
    return _wrap("tg-spoiler", content)


def code(content: object) -> Html:
    return _wrap("code", content)


def blockquote(content: object) -> Html:
    return _wrap("blockquote", content)


def pre(content: object, language: str | None = None) -> Html:
    if language:
        inner = _wrap("code", content, f' class="language-{escape(language)}"')
        return Html(f"<pre>{inner}</pre>")
    return _wrap("pre", content)


def link(content: object, url: str) -> Html:
    return _wrap("a", content, f' href="{escape(url)}"')


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


class _Part:
    """One part being filled: its atoms, their length and the tags open at its end."""

    def __init__(self, limit: int, open_tags: list[tuple[str, str]]) -> None:
        self.limit = limit
        self.stack = list(open_tags)  # (name, opening tag as written)
        self.chunks = [tag for _, tag in open_tags]
        self.length = sum(utf16_len(tag) for _, tag in open_tags)
        self.blank = True  # no visible character yet (only tags and whitespace)

    @staticmethod
    def _after(stack: list[tuple[str, str]], atoms: list[str]) -> list[tuple[str, str]]:
        stack = list(stack)
        for atom in atoms:
            match = _TAG_RE.match(atom) if atom.startswith("<") else None
            if not match:
                continue
            name = match.group(2).lower()
            if not match.group(1):
                stack.append((name, atom))
            elif stack and stack[-1][0] == name:
                stack.pop()
        return stack

    @staticmethod
    def _closers(stack: list[tuple[str, str]]) -> str:
        return "".join(f"</{name}>" for name, _ in reversed(stack))

    def fits(self, atoms: list[str]) -> bool:
        added = sum(utf16_len(atom) for atom in atoms)
        closing = utf16_len(self._closers(self._after(self.stack, atoms)))
        return self.length + added + closing <= self.limit

    def add(self, atoms: list[str]) -> None:
        self.stack = self._after(self.stack, atoms)
        self.chunks.extend(atoms)
        self.length += sum(utf16_len(atom) for atom in atoms)
        self.blank = self.blank and all(atom.startswith("<") or atom.isspace() for atom in atoms)

    def finish(self) -> str:
        return "".join(self.chunks) + self._closers(self.stack)

    def next(self) -> _Part:
        return _Part(self.limit, self.stack)


def split_html(html: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut ``html`` into parts of at most ``limit`` UTF-16 units (see the module docstring).

    Blank lines at a cut go with the following part, so no part is only whitespace (Telegram
    rejects an empty message). An empty or blank ``html`` gives no parts.
    """
    if limit < 16:
        raise ValueError(f"limit too small: {limit}")
    parts: list[str] = []
    part = _Part(limit, [])
    for line in _LINE_RE.findall(html):
        atoms = _ATOM_RE.findall(line)
        if part.fits(atoms):
            part.add(atoms)
            continue
        if not part.blank:
            parts.append(part.finish())
            part = part.next()
            if part.fits(atoms):
                part.add(atoms)
                continue
        for atom in atoms:  # a line longer than the limit: cut hard, between atoms
            if not part.fits([atom]) and not part.blank:
                parts.append(part.finish())
                part = part.next()
            if not part.fits([atom]):
                raise ValueError(f"cannot split to {limit}: the tags open at the cut leave no room for {atom!r}")
            part.add([atom])
    if not part.blank:
        parts.append(part.finish())
    return parts
