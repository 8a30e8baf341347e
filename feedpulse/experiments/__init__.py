"""Experiment statistics for the feed: A/A checks of the split system and A/B tests of CTR.

Pure numpy/scipy (no orchestration imports): load per-user ``exp_group, user_id, likes, views``
(:mod:`.data`), run :func:`run_aa` / :func:`run_ab`, and turn the results into verdict texts,
markdown, Telegram HTML and plots (:mod:`.report`). ``feedpulse experiment aa|ab`` is the CLI.
"""

from feedpulse.experiments.aa import AAResult, run_aa
from feedpulse.experiments.ab import ABResult, run_ab
from feedpulse.experiments.data import ExperimentDataError, load_csv, load_from_db, validate
from feedpulse.experiments.report import aa_markdown, aa_telegram_html, ab_markdown, ab_telegram_html

__all__ = [
    "AAResult",
    "ABResult",
    "ExperimentDataError",
    "aa_markdown",
    "aa_telegram_html",
    "ab_markdown",
    "ab_telegram_html",
    "load_csv",
    "load_from_db",
    "run_aa",
    "run_ab",
    "validate",
]
