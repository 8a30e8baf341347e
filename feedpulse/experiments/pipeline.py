"""Run a defined experiment end to end: per-user aggregates from ClickHouse, statistics, report
(markdown for the Dagster UI, HTML for Telegram), plots, delivery to Telegram or the outbox."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from feedpulse.experiments.aa import AAResult, run_aa
from feedpulse.experiments.ab import ABResult, run_ab
from feedpulse.experiments.data import ANALYTICS_DATABASE, load_from_db
from feedpulse.experiments.definitions import asset_id
from feedpulse.experiments.report import (
    aa_figures,
    aa_markdown,
    aa_telegram_html,
    ab_figures,
    ab_markdown,
    ab_telegram_html,
    render_pngs,
)
from feedpulse.experiments.spec import ExperimentSpec
from feedpulse.i18n import DEFAULT_LANG
from feedpulse.telegram import Delivery, DeliveryReceipt, Photo, SentLog, TelegramSettings, deliver


@dataclass
class ExperimentReport:
    name: str
    result: AAResult | ABResult
    markdown: str
    html: str
    pngs: dict[str, bytes] = field(default_factory=dict)
    receipt: DeliveryReceipt | None = None

    def markdown_with_images(self) -> str:
        images = "".join(
            f"\n\n![{name}](data:image/png;base64,{base64.b64encode(png).decode()})" for name, png in self.pngs.items()
        )
        return self.markdown + images


def run_aa_experiment(
    client,
    spec: ExperimentSpec,
    *,
    database: str = ANALYTICS_DATABASE,
    sims: int = 10_000,
    seed: int | None = 42,
    lang: str = DEFAULT_LANG,
    render=None,
) -> ExperimentReport:
    if spec.aa is None:
        raise ValueError(f"experiment {spec.id} has no aa window")
    frame = load_from_db(client, spec.aa.start, spec.aa.end, list(spec.aa.groups), database=database)
    result = run_aa(frame, groups=spec.aa.groups, sims=sims, seed=seed)
    return ExperimentReport(
        name=f"aa_test_{asset_id(spec.id)}",
        result=result,
        markdown=aa_markdown(result, lang=lang),
        html=aa_telegram_html(result, lang=lang),
        pngs=render_pngs(aa_figures(result), render),
    )


def run_ab_experiment(
    client,
    spec: ExperimentSpec,
    *,
    database: str = ANALYTICS_DATABASE,
    seed: int | None = 42,
    lang: str = DEFAULT_LANG,
    render=None,
) -> ExperimentReport:
    if spec.ab is None:
        raise ValueError(f"experiment {spec.id} has no ab window")
    groups = [spec.ab.control, spec.ab.treatment]
    frame = load_from_db(client, spec.ab.start, spec.ab.end, groups, database=database)
    result = run_ab(frame, control=spec.ab.control, treatment=spec.ab.treatment, seed=seed)
    return ExperimentReport(
        name=f"ab_test_{asset_id(spec.id)}",
        result=result,
        markdown=ab_markdown(result, lang=lang),
        html=ab_telegram_html(result, lang=lang),
        pngs=render_pngs(ab_figures(result), render),
    )


def send(
    report: ExperimentReport,
    day,
    settings: TelegramSettings | None = None,
    *,
    sent_log: SentLog | None = None,
    resend: bool = False,
) -> DeliveryReceipt:
    """Deliver the report (key ``<report name>/<day>``, the window's last day): each part once per chat;
    a chat that has it gets nothing unless ``resend``, an interrupted delivery resumes."""
    delivery = Delivery(
        name=report.name,
        day=day,
        html=report.html,
        photos=[Photo(name=f"{name}.png", png=png) for name, png in report.pngs.items()],
    )
    report.receipt = deliver(delivery, settings, sent_log=sent_log or SentLog(), resend=resend)
    return report.receipt
