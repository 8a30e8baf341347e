"""Produce a daily report for a day: read the marts, write the text, render the charts, deliver
each part once per chat (Telegram, or the outbox without a token; the sent log resumes an
interrupted delivery), and describe it for the Dagster UI."""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Literal

from feedpulse.charts import ChartRenderer
from feedpulse.config import report_why_threshold, source_database
from feedpulse.i18n import DEFAULT_LANG, Lang, check_lang
from feedpulse.reports.builders import ReportContent, app_report, feed_report
from feedpulse.reports.data import load_app_series, load_feed_series, load_whole_period
from feedpulse.reports.why import why_lines
from feedpulse.superset.links import report_link
from feedpulse.telegram import Delivery, DeliveryReceipt, Photo, SentLog, TelegramSettings, deliver

ReportKind = Literal["feed", "app"]
log = logging.getLogger(__name__)


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


def build(
    kind: ReportKind,
    client,
    day: dt.date,
    lang: Lang = DEFAULT_LANG,
    dashboard_url: str | None = None,
    *,
    source: str | None = None,
    why_threshold: float | None = None,
) -> ReportContent:
    """The report's content; raises ReportDataMissing when the ETL has not produced the day.

    Figures that moved more than ``why_threshold`` (default ``FEEDPULSE_REPORT_WHY_THRESHOLD``) day over
    day get a "why" line from the raw events in ``source`` (default ``FEEDPULSE_SOURCE_DATABASE``); if
    those cannot be read the report goes out without them (logged)."""
    check_lang(lang)
    if kind not in ("feed", "app"):
        raise ValueError(f"unknown report {kind!r}: expected 'feed' or 'app'")
    series = load_feed_series(client, day) if kind == "feed" else load_app_series(client, day)
    threshold = report_why_threshold() if why_threshold is None else why_threshold
    why: dict[str, str] = {}
    if math.isfinite(threshold):
        try:
            why = why_lines(client, series, source=source or source_database(), threshold=threshold, lang=lang)
        except Exception as exc:  # the figures matter more than their explanation
            log.warning("%s report for %s: no 'why' lines (%s)", kind, day, exc)
    # Superset's dashboard over the weeks ending the day when FEEDPULSE_SUPERSET_URL is set, else the given page.
    link = report_link(kind, day) or dashboard_url
    if kind == "feed":
        return feed_report(series, lang=lang, dashboard_url=link, why=why)
    return app_report(series, lang=lang, dashboard_url=link, why=why, whole=load_whole_period(client, day))


def render(content: ReportContent, renderer: ChartRenderer | None = None) -> list[Image]:
    if renderer is not None:
        return [Image(name, renderer.png(figure), caption) for name, figure, caption in content.figures]
    with ChartRenderer() as own:
        return render(content, own)


def run_report(
    kind: ReportKind,
    client,
    day: dt.date,
    *,
    lang: Lang = DEFAULT_LANG,
    resend: bool = False,
    dashboard_url: str | None = None,
    telegram: TelegramSettings | None = None,
    sent_log: SentLog | None = None,
    renderer: ChartRenderer | None = None,
) -> ReportRun:
    """Build, render and deliver one report (key ``<report>/<day>``): a chat that has this day's
    report gets nothing unless ``resend``; one whose delivery was interrupted gets the parts it
    lacks. Nothing is sent when the data is missing (the exception propagates); a chat that fails
    raises DeliveryError after the others were served (a re-run resumes it)."""
    content = build(kind, client, day, lang, dashboard_url)
    images = render(content, renderer)
    delivery = Delivery(
        name=content.name,
        day=day,
        html=content.html,
        photos=[Photo(name=image.name, png=image.png, caption=image.caption) for image in images],
    )
    receipt = deliver(delivery, telegram or TelegramSettings.from_env(), sent_log=sent_log or SentLog(), resend=resend)
    return ReportRun(
        content,
        images,
        delivered_to=list(receipt.chat_ids),
        already_sent_to=list(receipt.already_delivered),
        receipt=receipt,
    )


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
