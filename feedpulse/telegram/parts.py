"""What is delivered — a :class:`Delivery` (text, photos, documents) — and the parts it is sent in.

A *part* is one Bot API call, in sending order (:func:`plan`):

1. the text, one part per message (cut on line boundaries to 4096, see :mod:`.messages`);
2. the photos: 2–10 as one media group (one part), more in balanced groups of at most 10
   (11 ⇒ 6 + 5), a single one as a photo;
3. the documents, one part each.

A caption longer than Telegram's 1024 is not truncated (a cut could break the HTML or the meaning):
the photo or document goes without it and the full caption follows as text part(s) right after the
part it belongs to.

Parts are what delivery is recorded by (:mod:`.sent_log`): the same delivery always gives the same
parts, so a re-run resumes at the first part not yet delivered. Both transports — Telegram and the
outbox folder — send exactly these parts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from feedpulse.telegram.messages import CAPTION_LIMIT, split_html, utf16_len

MEDIA_GROUP_MAX = 10
PartKind = Literal["text", "photo", "media_group", "document"]


@dataclass
class Photo:
    name: str
    png: bytes
    caption: str = ""  # Telegram HTML


@dataclass
class Document:
    name: str  # the file name the chat shows, e.g. "metrics-2024-05-01.csv"
    data: bytes
    caption: str = ""  # Telegram HTML


@dataclass
class Delivery:
    """A message to deliver: Telegram HTML text, photos and documents.

    ``key`` identifies it in the sent log (and so decides what counts as "the same delivery" on a
    re-run); by default ``<name>/<day>``. Callers whose name may change with the message's wording
    pass a key made of stable identifiers (alerts: bucket, slice and kind).
    """

    name: str
    day: dt.date
    html: str
    photos: list[Photo] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    key: str | None = None

    @property
    def identity(self) -> str:
        return self.key or f"{self.name}/{self.day.isoformat()}"


@dataclass(frozen=True)
class Attachment:
    """A file of a part: its name, bytes and the caption attached to it (at most 1024, or empty)."""

    name: str
    data: bytes
    caption: str = ""


@dataclass(frozen=True)
class Part:
    """One Bot API call: a text message, a photo, a media group or a document."""

    index: int
    kind: PartKind
    text: str = ""
    attachments: tuple[Attachment, ...] = ()

    def describe(self) -> str:
        if self.kind == "text":
            return f"part {self.index + 1} (text)"
        if self.kind == "media_group":
            return f"part {self.index + 1} (media group of {len(self.attachments)} photos)"
        return f"part {self.index + 1} ({self.kind} {self.attachments[0].name})"


def photo_groups(count: int) -> list[int]:
    """Sizes of the media groups for ``count`` photos: balanced, at most 10, never 1 unless count is 1."""
    if count <= 0:
        return []
    groups = -(-count // MEDIA_GROUP_MAX)
    base, extra = divmod(count, groups)
    return [base + 1 if index < extra else base for index in range(groups)]


def fit_caption(caption: str) -> tuple[str, str]:
    """(caption to attach, text to send after): a too long caption moves to a message."""
    if utf16_len(caption) <= CAPTION_LIMIT:
        return caption, ""
    return "", caption


def plan(delivery: Delivery) -> list[Part]:
    """The parts of ``delivery`` in sending order (see the module docstring)."""
    parts: list[Part] = []

    def add(kind: PartKind, text: str = "", attachments: Sequence[Attachment] = ()) -> None:
        parts.append(Part(len(parts), kind, text, tuple(attachments)))

    def add_texts(html: str) -> None:
        for chunk in split_html(html):
            add("text", chunk)

    add_texts(delivery.html)
    start = 0
    for size in photo_groups(len(delivery.photos)):
        group = delivery.photos[start : start + size]
        start += size
        fitted = [fit_caption(photo.caption) for photo in group]
        attachments = [Attachment(p.name, p.png, caption) for p, (caption, _) in zip(group, fitted, strict=True)]
        add("photo" if size == 1 else "media_group", attachments=attachments)
        for _, overflow in fitted:
            add_texts(overflow)
    for document in delivery.documents:
        caption, overflow = fit_caption(document.caption)
        add("document", attachments=[Attachment(document.name, document.data, caption)])
        add_texts(overflow)
    return parts
