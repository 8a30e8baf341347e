"""Experiment statistics for the feed: A/A checks of the split system and A/B tests of CTR.

Pure numpy/scipy (no orchestration imports): load per-user ``exp_group, user_id, likes, views``
(:mod:`.data`), run :func:`run_aa` / :func:`run_ab`, and turn the results into verdict texts,
markdown, Telegram HTML and plots (:mod:`.report`). ``feedpulse experiment aa|ab`` is the CLI.
"""
