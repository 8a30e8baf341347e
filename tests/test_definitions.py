"""The Dagster code location loads (what `dagster dev -w workspace.yaml` does first)."""

from __future__ import annotations

from dagster import AssetKey, Definitions


def test_definitions_load_with_source_tables():
    from orchestration.definitions import defs

    Definitions.validate_loadable(defs)
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert AssetKey(["simulator", "feed_actions"]) in keys
    assert AssetKey(["simulator", "message_actions"]) in keys
