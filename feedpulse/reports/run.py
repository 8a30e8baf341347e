"""Produce a daily report for a day: read the marts, write the text, render the charts, deliver
once per chat (Telegram, or the outbox without a token), and describe it for the Dagster UI."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import re
from dataclasses import dataclass, field
from typing import Literal

from feedpulse.charts import ChartRenderer
from feedpulse.reports.builders import ReportContent, app_report, feed_report
from feedpulse.reports.data import load_app_series, load_feed_series
from feedpulse.reports.sent_log import SentLog
from feedpulse.reports.texts import Lang, check_lang
from feedpulse.telegram import Delivery, DeliveryError, DeliveryReceipt, Photo, TelegramSettings, deliver

ReportKind = Literal["feed", "app"]
OUTBOX_CHAT = "outbox"


@dataclass
class Image:
    name: str
    png: bytes
    caption: str


@dataclass
class ReportRun:
    content: ReportContent
    images: list[Image]
    delivered_to: list[str] = field(default_factory=list)
    already_sent_to: list[str] = field(default_factory=list)
    receipt: DeliveryReceipt | None = None


def build(kind: ReportKind, client, day: dt.date, lang: Lang = "ru", dashboard_url: str | None = None) -> ReportContent:
    """The report's content; raises ReportDataMissing when the ETL has not produced the day."""
    check_lang(lang)
    if kind == "feed":
        return feed_report(load_feed_series(client, day), lang=lang, dashboard_url=dashboard_url)
    if kind == "app":
        return app_report(load_app_series(client, day), lang=lang, dashboard_url=dashboard_url)
    raise ValueError(f"unknown report {kind!r}: expected 'feed' or 'app'")


def render(content: ReportContent, renderer: ChartRenderer | None = None) -> list[Image]:
    if renderer is not None:
        return [Image(name, renderer.png(figure), caption) for name, figure, caption in content.figures]
    with ChartRenderer() as own:
        return render(content, own)


def targets(settings: TelegramSettings) -> list[str]:
    return [str(chat) for chat in settings.chat_ids] if settings.token else [OUTBOX_CHAT]


def run_report(
    kind: ReportKind,
    client,
    day: dt.date,
    *,
    lang: Lang = "ru",
    resend: bool = False,
    dashboard_url: str | None = None,
    telegram: TelegramSettings | None = None,
    sent_log: SentLog | None = None,
    renderer: ChartRenderer | None = None,
) -> ReportRun:
    """Build, render and deliver one report; a chat that already got this day's report is skipped
    unless ``resend``. Nothing is sent when the data is missing (the exception propagates)."""
    content = build(kind, client, day, lang, dashboard_url)
    images = render(content, renderer)
    telegram = telegram or TelegramSettings.from_env()
    sent_log = sent_log or SentLog()
    partition = day.isoformat()
    wanted = targets(telegram)
    done = sent_log.sent_to(content.name, partition)
    remaining = wanted if resend else [chat for chat in wanted if chat not in done]
    run = ReportRun(content, images, already_sent_to=[chat for chat in wanted if chat in done and not resend])
    if not remaining:
        return run
    delivery = Delivery(
        name=content.name,
        day=day,
        html=content.html,
        photos=[Photo(name=image.name, png=image.png, caption=image.caption) for image in images],
    )
    settings = dataclasses.replace(telegram, chat_ids=tuple(remaining)) if telegram.token else telegram
    try:
        run.receipt = deliver(delivery, settings)
    except DeliveryError as partial:
        # Remember the chats that did get it, so a retry of the run does not send them a duplicate.
        sent_log.record(content.name, partition, [str(c) for c in partial.receipt.chat_ids], "telegram")
        raise
    sent_to = [str(c) for c in run.receipt.chat_ids] if telegram.token else remaining
    sent_log.record(content.name, partition, sent_to, run.receipt.destination)
    run.delivered_to = sent_to
    return run


def html_to_markdown(text: str) -> str:
    """Telegram HTML → markdown for the Dagster UI (bold, italics, links; entities unescaped)."""
    out = re.sub(r'<a href="([^"]*)">(.*?)</a>', lambda m: f"[{m.group(2)}]({html.unescape(m.group(1))})", text)
    out = re.sub(r"</?b>", "**", out)
    out = re.sub(r"</?i>", "_", out)
    out = re.sub(r"<[^>]+>", "", out)
    return html.unescape(out).replace("\n", "  \n")


def markdown(run: ReportRun) -> str:
    parts = [html_to_markdown(run.content.html)]
    for image in run.images:
        encoded = base64.b64encode(image.png).decode()
        parts.append(f"\n\n**{image.caption}**\n\n![{image.name}](data:image/png;base64,{encoded})")
    return "".join(parts)
