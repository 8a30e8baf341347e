"""The one entry point for sending anything (reports, alerts, experiments): :func:`deliver`.

A delivery goes out in parts (:func:`feedpulse.telegram.parts.plan`: text messages, photos or media
groups, documents — one Bot API call each), to every chat of the settings with a bot token, or to
the outbox folder without one (:mod:`.outbox`, the pseudo-chat ``outbox``).

**Exactly once per part, where that is knowable.** With a :class:`~.sent_log.SentLog` every part is
recorded per chat before it goes out and once Telegram has accepted it; a re-run (a retried
Dagster run, a re-executed ``alert_job``, a re-materialized report) skips the chats that have
everything and resumes the others at their first part not delivered, so a text accepted before a
photo was refused is not sent again. The one case Telegram gives no way to know is a request that
was sent but whose answer never came (a read timeout, a connection dropped mid-answer, a process
killed in between): that part is sent again — at-least-once — and counted in
``DeliveryReceipt.uncertain_parts`` and logged as a warning. Requests that never left (connection
refused, connect timeout) and error answers (4xx, 5xx, 429 after the retries) are known not to
have arrived and are simply retried. ``resend=True`` gives chats that already have the delivery a
new complete copy (an incomplete one is completed first, not restarted).

Without a sent log :func:`deliver` remembers nothing: every call is a fresh copy.

A chat that fails does not stop the others: the failure is raised at the end as
:class:`DeliveryError`, which carries the receipt of the chats that did get everything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from feedpulse.telegram.client import TelegramClient, TelegramError, TelegramSettings
from feedpulse.telegram.outbox import OutboxWriter
from feedpulse.telegram.parts import (
    MEDIA_GROUP_MAX,
    Delivery,
    Document,
    Part,
    Photo,
    photo_groups,
    plan,
)
from feedpulse.telegram.sent_log import Progress, SentLog

__all__ = [
    "MEDIA_GROUP_MAX",
    "OUTBOX_CHAT",
    "Delivery",
    "DeliveryError",
    "DeliveryReceipt",
    "Document",
    "Photo",
    "deliver",
    "pending_chats",
    "photo_groups",
    "send_part",
]

OUTBOX_CHAT = "outbox"  # the sent log's chat for the outbox folder

log = logging.getLogger(__name__)


@dataclass
class DeliveryReceipt:
    destination: Literal["telegram", "outbox"]
    chat_ids: list[str]  # chats (or "outbox") that got the delivery complete in this call
    message_ids: list[int]
    outbox_path: Path | None = None
    already_delivered: list[str] = field(default_factory=list)  # had it complete before: nothing sent
    resumed: list[str] = field(default_factory=list)  # an interrupted delivery was completed
    parts_sent: int = 0
    parts_skipped: int = 0  # delivered by an earlier run
    uncertain_parts: list[tuple[str, int]] = field(default_factory=list)  # (chat, part): may have arrived twice

    def summary(self) -> str:
        """One line for logs and the Dagster UI."""
        out = []
        if self.chat_ids:
            out.append(f"{self.parts_sent} part(s) sent, complete for {', '.join(self.chat_ids)}")
        if self.resumed:
            out.append(f"resumed for {', '.join(self.resumed)} ({self.parts_skipped} part(s) delivered before)")
        if self.already_delivered:
            out.append(f"already delivered to {', '.join(self.already_delivered)}: not sent again")
        if self.uncertain_parts:
            shown = ", ".join(f"chat {chat} part {index + 1}" for chat, index in self.uncertain_parts)
            out.append(f"may have arrived twice (an answer was lost): {shown}")
        return "; ".join(out) or "nothing sent"


class DeliveryError(TelegramError):
    """Some chats did not get the delivery; ``receipt`` lists those that did, ``failures`` the others."""

    def __init__(self, failures: dict[str, TelegramError], receipt: DeliveryReceipt) -> None:
        first = next(iter(failures.values()))
        details = "; ".join(f"chat {chat}: {error.description}" for chat, error in failures.items())
        super().__init__(first.method, first.status, details)
        self.failures = failures
        self.receipt = receipt


def _ids(result: Any) -> list[int]:
    results = result if isinstance(result, list) else [result]
    return [int(item["message_id"]) for item in results if isinstance(item, dict) and "message_id" in item]


def send_part(client: TelegramClient, chat_id: str, part: Part) -> list[int]:
    """One part to one chat (one Bot API call); the message ids."""
    if part.kind == "text":
        return _ids(client.send_message(chat_id, part.text))
    first = part.attachments[0]
    if part.kind == "photo":
        return _ids(client.send_photo(chat_id, first.data, first.caption, first.name))
    if part.kind == "media_group":
        return _ids(client.send_media_group(chat_id, [(a.name, a.data, a.caption) for a in part.attachments]))
    return _ids(client.send_document(chat_id, first.name, first.data, first.caption))


def pending_chats(
    delivery_key: str, settings: TelegramSettings, sent_log: SentLog | None, *, resend: bool = False
) -> list[str]:
    """The chats (or ``outbox``) that still need something of the delivery: a caller can skip building
    an expensive delivery (charts) when this is empty."""
    targets = [str(chat) for chat in settings.chat_ids] if settings.token else [OUTBOX_CHAT]
    if sent_log is None or resend:
        return targets
    done = sent_log.delivered_to(delivery_key, targets)
    return [chat for chat in targets if chat not in done]


class _Run:
    """One :func:`deliver` call: the plan, the transport and the receipt."""

    def __init__(self, delivery: Delivery, parts: list[Part], sent_log: SentLog | None, resend: bool) -> None:
        self.delivery, self.parts, self.sent_log, self.resend = delivery, parts, sent_log, resend
        self.key = delivery.identity

    def progress(self, chat: str, destination: str) -> Progress:
        if self.sent_log is None:
            return Progress(0)
        progress = self.sent_log.begin(
            self.key, chat, parts=len(self.parts), destination=destination, resend=self.resend
        )
        if progress.recorded_parts not in (None, len(self.parts)) and not progress.new:
            log.warning(
                "%s: the delivery has %d parts now, %d when it began for chat %s; resuming by part number",
                self.key,
                len(self.parts),
                progress.recorded_parts,
                chat,
            )
        return progress

    def send(
        self, chat: str, progress: Progress, receipt: DeliveryReceipt, send_one: Callable[[Part], list[int]]
    ) -> None:
        """The parts ``progress`` does not have, in order; the first failure propagates."""
        if not progress.new:
            receipt.resumed.append(chat)
            log.info(
                "%s: resuming delivery to chat %s (%d part(s) delivered before)", self.key, chat, len(progress.sent)
            )
        for part in self.parts:
            if part.index in progress.sent:
                receipt.parts_skipped += 1
                continue
            if part.index in progress.uncertain:
                receipt.uncertain_parts.append((chat, part.index))
                log.warning(
                    "%s: %s to chat %s may have arrived already (its answer was never recorded); sending it again "
                    "(at-least-once: Telegram gives no way to check)",
                    self.key,
                    part.describe(),
                    chat,
                )
            if self.sent_log is not None:
                self.sent_log.sending(self.key, chat, progress.generation, part.index, part.kind)
            try:
                ids = send_one(part)
            except TelegramError as error:
                if self.sent_log is not None and not error.maybe_delivered:
                    self.sent_log.not_sent(self.key, chat, progress.generation, part.index)
                raise
            except OSError:  # the outbox could not write the part: it is not there
                if self.sent_log is not None:
                    self.sent_log.not_sent(self.key, chat, progress.generation, part.index)
                raise
            if self.sent_log is not None:
                self.sent_log.sent(self.key, chat, progress.generation, part.index, ids)
            receipt.message_ids += ids
            receipt.parts_sent += 1

    def finish(self, chat: str, progress: Progress, receipt: DeliveryReceipt) -> None:
        if self.sent_log is not None:
            self.sent_log.complete(self.key, chat, progress.generation)
        receipt.chat_ids.append(chat)


def _to_outbox(run: _Run, chat_ids: Sequence[str]) -> DeliveryReceipt:
    writer = OutboxWriter(run.delivery, run.parts, chat_ids)
    receipt = DeliveryReceipt("outbox", [], [], writer.path)
    progress = run.progress(OUTBOX_CHAT, "outbox")
    if progress.complete:
        receipt.already_delivered.append(OUTBOX_CHAT)
        return receipt
    writer.start(fresh=progress.new)

    def write(part: Part) -> list[int]:
        writer.write(part)
        return []  # no message ids in a folder

    run.send(OUTBOX_CHAT, progress, receipt, write)
    writer.finish()
    run.finish(OUTBOX_CHAT, progress, receipt)
    log.info("%s written to the outbox: %s", run.key, writer.path)
    return receipt


def deliver(
    delivery: Delivery,
    settings: TelegramSettings | None = None,
    *,
    sleep: Callable[[float], Any] = time.sleep,
    client: TelegramClient | None = None,
    sent_log: SentLog | None = None,
    resend: bool = False,
) -> DeliveryReceipt:
    """Send ``delivery`` to every chat of ``settings`` (default: from the environment), or write it
    to the outbox when there is no token. With ``sent_log``, every part goes to a chat once (see the
    module docstring). ``sleep`` is used for the retries' waits."""
    settings = settings or TelegramSettings.from_env()
    chat_ids = [str(chat) for chat in settings.chat_ids]
    run = _Run(delivery, plan(delivery), sent_log, resend)
    if not settings.token:
        return _to_outbox(run, chat_ids)
    if not chat_ids:
        raise ValueError("TELEGRAM_CHAT_ID is required to deliver with a bot token")
    client = client or TelegramClient(settings, sleep=sleep)
    receipt = DeliveryReceipt("telegram", [], [])
    failures: dict[str, TelegramError] = {}
    for chat_id in chat_ids:
        progress = run.progress(chat_id, "telegram")
        if progress.complete:
            receipt.already_delivered.append(chat_id)
            continue

        def send_one(part: Part, chat_id: str = chat_id) -> list[int]:
            started = client.ambiguous_retries
            ids = send_part(client, chat_id, part)
            if client.ambiguous_retries > started:  # retried after a lost answer: may be there twice
                receipt.uncertain_parts.append((chat_id, part.index))
            return ids

        try:
            run.send(chat_id, progress, receipt, send_one)
        except TelegramError as error:
            log.error("%s: delivery to chat %s failed: %s", run.key, chat_id, error)
            failures[chat_id] = error
            continue
        run.finish(chat_id, progress, receipt)
    if failures:
        raise DeliveryError(failures, receipt)
    log.info("%s delivered to %d chat(s)", run.key, len(receipt.chat_ids))
    return receipt
