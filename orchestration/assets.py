"""Dagster assets. The raw event tables are external: written by the app (or the simulator)."""

from __future__ import annotations

from dagster import AssetSpec

from feedpulse.config import source_database

SOURCE_DATABASE = source_database()

feed_actions = AssetSpec(
    key=[SOURCE_DATABASE, "feed_actions"],
    description="Raw feed events (views, likes) with user attributes; written by the app or `feedpulse simulate`.",
    group_name="sources",
    kinds={"clickhouse"},
)
message_actions = AssetSpec(
    key=[SOURCE_DATABASE, "message_actions"],
    description="Raw messenger events (sender, `reciever_id`, time) with the sender's attributes.",
    group_name="sources",
    kinds={"clickhouse"},
)

source_assets = [feed_actions, message_actions]
