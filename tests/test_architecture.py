"""The rooms of the code keep to their imports (docs/architecture.md): the library never imports
Dagster or the orchestration, the foundation imports no product room, and there are no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FOUNDATION = {"config", "identifiers", "durations", "specfile", "i18n", "clickhouse", "scratch", "metrics"}
# room → the feedpulse rooms it may import (module level or inside functions).
ALLOWED: dict[str, set[str]] = {
    "config": {"identifiers", "i18n"},
    "identifiers": set(),
    "i18n": set(),
    "durations": set(),
    "specfile": set(),
    "metrics": {"i18n"},
    "clickhouse": {"config", "identifiers", "localhouse"},
    "scratch": {"config", "identifiers", "clickhouse"},
    "localhouse": {"config", "identifiers"},
    "charts": {"config"},
    "telegram": {"config", "identifiers"},
    "etl": {"config", "identifiers"},
    "simulator": FOUNDATION,
    "reports": FOUNDATION | {"charts", "telegram"},
    "alerts": FOUNDATION | {"charts", "telegram"},
    "experiments": FOUNDATION | {"charts", "telegram"},
    "superset": {"config"},
}
# Edges allowed for one module only, with the reason.
EXCEPTIONS = {
    ("feedpulse.alerts.evaluate", "feedpulse.simulator"),  # the evaluation harness simulates labelled weeks
    ("feedpulse.alerts.rootcause", "feedpulse.simulator"),  # the root-cause harness plants segment anomalies
}
# Modules of another room that a whole room may import, with the reason.
SHARED = {
    ("simulator", "feedpulse.experiments.spec"),  # the simulator plants a defined experiment's effects
    ("reports", "feedpulse.alerts.explain"),  # the reports' "why" lines: the one root-cause explainer
    ("reports", "feedpulse.alerts.segments"),  # … on the segment cells it reads
    ("reports", "feedpulse.alerts.metrics_table"),  # the dashboard's 15-minute panel: the alerts' table, its one reader
    # links into the Superset dashboards with their filters pre-set (FEEDPULSE_SUPERSET_URL)
    ("reports", "feedpulse.superset.links"),
    ("alerts", "feedpulse.superset.links"),
}


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(path: Path, module_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _room(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else module


def test_the_library_never_imports_dagster_or_the_orchestration():
    offenders = [
        f"{module} imports {name}"
        for module, path in _modules("feedpulse").items()
        for name in _imports(path)
        if name.split(".")[0] in {"dagster", "dagster_dbt", "orchestration"}
    ]
    assert offenders == []


def test_each_room_imports_only_what_docs_architecture_allows():
    offenders = []
    for module, path in _modules("feedpulse").items():
        room = _room(module)
        if room not in ALLOWED:  # cli, doctor: the command line may use every room
            continue
        for name in _imports(path):
            if not name.startswith("feedpulse.") or name.count(".") < 1:
                continue
            target = _room(name)
            allowed = (
                target == room
                or target in ALLOWED[room]
                or any(name.startswith(prefix) for mod, prefix in EXCEPTIONS if mod == module)
                or any(name.startswith(prefix) for shared_room, prefix in SHARED if shared_room == room)
            )
            if not allowed:
                offenders.append(f"{module} imports {name}")
    assert sorted(set(offenders)) == []


def test_no_import_cycles_at_module_level():
    modules = {**_modules("feedpulse"), **_modules("orchestration")}
    graph = {
        module: {name for name in _imports(path, module_level_only=True) if name in modules and name != module}
        for module, path in modules.items()
    }
    cycles = _cycles(graph)
    assert cycles == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
