"""Telegram delivery for feedpulse: reports, alerts and experiment results.

Everyone sends through :func:`deliver` — Telegram when ``TELEGRAM_BOT_TOKEN`` is set, otherwise
the outbox folder ``$FEEDPULSE_HOME/outbox/<date>/<name>/`` — with a :class:`SentLog`, so that
every part reaches every chat once (see :mod:`.delivery` for the exact guarantee)::

    from feedpulse.telegram import Delivery, Photo, SentLog, deliver, fmt

    delivery = Delivery(name="feed", day=day, html=fmt("<b>{}</b>", title), photos=[Photo("dau", png)])
    receipt = deliver(delivery, sent_log=SentLog())

Texts are Telegram HTML: build them with :func:`fmt`, :func:`escape` and the tag helpers so data
is always escaped. :class:`TelegramClient` is the Bot API client underneath (retries, 429
handling, token redaction).
"""

from feedpulse.telegram.client import (
    DEFAULT_API_URL,
    RateLimited,
    TelegramClient,
    TelegramError,
    TelegramNetworkError,
    TelegramSettings,
    parse_chat_ids,
    redact,
)
from feedpulse.telegram.delivery import (
    MEDIA_GROUP_MAX,
    OUTBOX_CHAT,
    Delivery,
    DeliveryError,
    DeliveryReceipt,
    Document,
    Photo,
    deliver,
    pending_chats,
    photo_groups,
)
from feedpulse.telegram.messages import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    Html,
    blockquote,
    bold,
    code,
    escape,
    fmt,
    italic,
    join,
    link,
    pre,
    split_html,
    spoiler,
    strike,
    underline,
    utf16_len,
)
from feedpulse.telegram.outbox import outbox_dir, write_outbox
from feedpulse.telegram.sent_log import SentLog

__all__ = [
    "CAPTION_LIMIT",
    "DEFAULT_API_URL",
    "MEDIA_GROUP_MAX",
    "OUTBOX_CHAT",
    "TEXT_LIMIT",
    "Delivery",
    "DeliveryError",
    "DeliveryReceipt",
    "Document",
    "Html",
    "Photo",
    "RateLimited",
    "SentLog",
    "TelegramClient",
    "TelegramError",
    "TelegramNetworkError",
    "TelegramSettings",
    "blockquote",
    "bold",
    "code",
    "deliver",
    "escape",
    "fmt",
    "italic",
    "join",
    "link",
    "outbox_dir",
    "parse_chat_ids",
    "pending_chats",
    "photo_groups",
    "pre",
    "redact",
    "split_html",
    "spoiler",
    "strike",
    "underline",
    "utf16_len",
    "write_outbox",
]
