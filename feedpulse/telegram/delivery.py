"""The one entry point for sending anything (reports, alerts, experiments): :func:`deliver`.

With a bot token, every chat of the settings gets, in this order:

1. the text, as one message or several (cut on line boundaries to 4096, see :mod:`.messages`);
2. the photos: 2–10 as one media group, more in balanced groups of at most 10 (11 ⇒ 6 + 5),
   a single one with ``sendPhoto``;
3. the documents, one ``sendDocument`` each.

A caption longer than Telegram's 1024 is not truncated (a cut could break the HTML or the meaning):
the photo or document goes without it and the full caption follows as a message right after the
media group / photo / document it belongs to.

Without a token the delivery goes to the outbox folder instead (:mod:`.outbox`). A chat that fails
does not stop the others: the failure is raised at the end as :class:`DeliveryError`, which
carries the receipt of the chats that did get everything.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from feedpulse.telegram.client import TelegramClient, TelegramError, TelegramSettings
from feedpulse.telegram.messages import CAPTION_LIMIT, split_html, utf16_len
from feedpulse.telegram.outbox import write_outbox

MEDIA_GROUP_MAX = 10

log = logging.getLogger(__name__)


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
    """A message to deliver: Telegram HTML text, photos and documents; (day, name) identify it."""

    name: str
    day: dt.date
    html: str
    photos: list[Photo] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)


@dataclass
class DeliveryReceipt:
    destination: Literal["telegram", "outbox"]
    chat_ids: list[str]
    message_ids: list[int]
    outbox_path: Path | None = None


class DeliveryError(TelegramError):
    """Some chats did not get the delivery; ``receipt`` lists those that did, ``failures`` the others."""

    def __init__(self, failures: dict[str, TelegramError], receipt: DeliveryReceipt) -> None:
        first = next(iter(failures.values()))
        details = "; ".join(f"chat {chat}: {error.description}" for chat, error in failures.items())
        super().__init__(first.method, first.status, details)
        self.failures = failures
        self.receipt = receipt


def photo_groups(count: int) -> list[int]:
    """Sizes of the media groups for ``count`` photos: balanced, at most 10, never 1 unless count is 1."""
    if count <= 0:
        return []
    groups = -(-count // MEDIA_GROUP_MAX)
    base, extra = divmod(count, groups)
    return [base + 1 if index < extra else base for index in range(groups)]


def _fit_caption(caption: str) -> tuple[str, str]:
    """(caption to attach, text to send after): a too long caption moves to a message."""
    if utf16_len(caption) <= CAPTION_LIMIT:
        return caption, ""
    return "", caption


def _ids(result: Any) -> list[int]:
    results = result if isinstance(result, list) else [result]
    return [int(item["message_id"]) for item in results if isinstance(item, dict) and "message_id" in item]


def _send_texts(client: TelegramClient, chat_id: str, html: str) -> list[int]:
    return [mid for part in split_html(html) for mid in _ids(client.send_message(chat_id, part))]


def _send_photos(client: TelegramClient, chat_id: str, photos: Sequence[Photo]) -> list[int]:
    ids: list[int] = []
    start = 0
    for size in photo_groups(len(photos)):
        group = photos[start : start + size]
        start += size
        fitted = [_fit_caption(photo.caption) for photo in group]
        if size == 1:
            ids += _ids(client.send_photo(chat_id, group[0].png, fitted[0][0], group[0].name))
        else:
            items = [(photo.name, photo.png, caption) for photo, (caption, _) in zip(group, fitted, strict=True)]
            ids += _ids(client.send_media_group(chat_id, items))
        for _, overflow in fitted:
            ids += _send_texts(client, chat_id, overflow)
    return ids


def _send_documents(client: TelegramClient, chat_id: str, documents: Sequence[Document]) -> list[int]:
    ids: list[int] = []
    for document in documents:
        caption, overflow = _fit_caption(document.caption)
        ids += _ids(client.send_document(chat_id, document.name, document.data, caption))
        ids += _send_texts(client, chat_id, overflow)
    return ids


def send_to_chat(client: TelegramClient, chat_id: str, delivery: Delivery) -> list[int]:
    """Everything of ``delivery`` to one chat, in order; the message ids."""
    return (
        _send_texts(client, chat_id, delivery.html)
        + _send_photos(client, chat_id, delivery.photos)
        + _send_documents(client, chat_id, delivery.documents)
    )


def deliver(
    delivery: Delivery,
    settings: TelegramSettings | None = None,
    *,
    sleep: Callable[[float], Any] = time.sleep,
    client: TelegramClient | None = None,
) -> DeliveryReceipt:
    """Send ``delivery`` to every chat of ``settings`` (default: from the environment), or write it
    to the outbox when there is no token. ``sleep`` is used for the retries' waits."""
    settings = settings or TelegramSettings.from_env()
    chat_ids = [str(chat) for chat in settings.chat_ids]
    if not settings.token:
        path = write_outbox(delivery, chat_ids)
        log.info("%s %s written to the outbox: %s", delivery.name, delivery.day, path)
        return DeliveryReceipt("outbox", chat_ids, [], path)
    if not chat_ids:
        raise ValueError("TELEGRAM_CHAT_ID is required to deliver with a bot token")
    client = client or TelegramClient(settings, sleep=sleep)
    receipt = DeliveryReceipt("telegram", [], [])
    failures: dict[str, TelegramError] = {}
    for chat_id in chat_ids:
        try:
            receipt.message_ids += send_to_chat(client, chat_id, delivery)
        except TelegramError as error:
            log.error("%s %s: delivery to chat %s failed: %s", delivery.name, delivery.day, chat_id, error)
            failures[chat_id] = error
            continue
        receipt.chat_ids.append(chat_id)
    if failures:
        raise DeliveryError(failures, receipt)
    log.info("%s %s delivered to %d chat(s)", delivery.name, delivery.day, len(chat_ids))
    return receipt
