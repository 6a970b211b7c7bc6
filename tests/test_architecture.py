"""The shape of the code: apps import only the apps below them, and nothing imports in a
circle (README, "Architecture")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

from complaints import access
from complaints.models import Complaint, State
from escalation.services.deadlines import STATE_KINDS

ROOT = Path(__file__).resolve().parent.parent
APPS = ("operations", "compliance", "complaints", "escalation", "audit")


def test_apps_import_only_the_apps_below_them() -> None:
    # The same check as `lint-imports` (make lint), in a process of its own: it reads the
    # contract in pyproject.toml ([tool.importlinter]).
    run = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],  # noqa: S603
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_in_a_circle() -> None:
    # Imports inside functions count: a deferred import is still a circle.
    graph = grimp.build_graph(*APPS, exclude_type_checking_imports=True)
    modules = {m for m in graph.modules if ".migrations" not in m}
    assert _cycles(graph, modules) == []


def test_every_state_of_a_complaint_has_its_clocks() -> None:
    # escalation knows the states by name only (it sits below complaints).
    assert set(STATE_KINDS) == set(State.values)


def test_every_transition_has_exactly_one_rule_of_who_may_take_it() -> None:
    transitions = {t.name for t in Complaint._meta.get_field("state").get_all_transitions(
        Complaint)}
    assert transitions == set(access.TRANSITION_RULES)
