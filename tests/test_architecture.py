"""The house's rules, checked on the source: no import cycles (function-level imports count), each layer
imports only what it may, and imports by string happen in one documented place only.

Every ``import`` statement anywhere in a module counts (top level, in functions, under TYPE_CHECKING):
they are the places a cycle hides. The implicit import of a parent package is not an edge (package
``__init__`` modules are kept free of imports for that reason).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "airflow_aiinfra"
# The one place that imports a module named at run time: the deployment's own custom GX expectations
# ([aiinfra] gx_custom_expectations_module), never a value from a spec.
STRING_IMPORTS_ALLOWED = {"airflow_aiinfra.operators.data_quality"}

SPEC_VALIDATION = (
    "airflow_aiinfra.spec.load", "airflow_aiinfra.spec.semantics", "airflow_aiinfra.spec.checks",
    "airflow_aiinfra.spec.yaml_loader", "airflow_aiinfra.spec.templates", "airflow_aiinfra.spec.files",
    "airflow_aiinfra.spec.schema", "airflow_aiinfra.spec.suggest",
)
RUNTIME = ("airflow_aiinfra.operators", "airflow_aiinfra.hooks", "airflow_aiinfra.quality",
           "airflow_aiinfra.features", "airflow_aiinfra.wiring", "airflow_aiinfra.plugins", "airflow_aiinfra.cli")
# layer (module prefix) → module prefixes it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "airflow_aiinfra.contract": ("airflow", "airflow_aiinfra", "pydantic", "yaml", "kubernetes"),
    "airflow_aiinfra.spec": ("airflow", "airflow_aiinfra.plan", "airflow_aiinfra.config", *RUNTIME),
    "airflow_aiinfra.plan": ("airflow", "airflow_aiinfra.config", *SPEC_VALIDATION, *RUNTIME),
    # Kubernetes objects are built from the plan's plain data (PodPlan): above the plan, below Airflow
    "airflow_aiinfra.kube": ("airflow", "airflow_aiinfra.spec", "airflow_aiinfra.plan.build", *RUNTIME),
    "airflow_aiinfra.distributed": ("airflow", "airflow_aiinfra.spec", "airflow_aiinfra.plan", *RUNTIME),
    "airflow_aiinfra.runners": ("airflow_aiinfra.spec", "airflow_aiinfra.plan", "airflow_aiinfra.operators",
                                "airflow_aiinfra.wiring", "airflow_aiinfra.cli"),
    "airflow_aiinfra.errors": ("airflow", "airflow_aiinfra"),
    "airflow_aiinfra.bundle": ("airflow", "airflow_aiinfra"),
    # the data-location rule, used by spec checks and operators alike: pure, given the roots by its callers
    "airflow_aiinfra.sql": ("airflow", "airflow_aiinfra", "sqlalchemy"),
    "airflow_aiinfra.locations": ("airflow", "airflow_aiinfra.config", "airflow_aiinfra.spec", "airflow_aiinfra.plan",
                                  *RUNTIME),
    "airflow_aiinfra.hooks": ("airflow_aiinfra.operators", "airflow_aiinfra.wiring", "airflow_aiinfra.plan",
                              "airflow_aiinfra.spec", "airflow_aiinfra.cli", "airflow_aiinfra.plugins"),
    "airflow_aiinfra.quality": ("airflow_aiinfra.operators", "airflow_aiinfra.wiring", "airflow_aiinfra.plan",
                                "airflow_aiinfra.spec", "airflow_aiinfra.cli"),
    "airflow_aiinfra.features": ("airflow_aiinfra.operators", "airflow_aiinfra.wiring", "airflow_aiinfra.plan",
                                 "airflow_aiinfra.spec", "airflow_aiinfra.hooks", "airflow_aiinfra.cli"),
    "airflow_aiinfra.operators": ("airflow_aiinfra.wiring", "airflow_aiinfra.plan", "airflow_aiinfra.spec",
                                  "airflow_aiinfra.cli", "airflow_aiinfra.plugins"),
    "airflow_aiinfra.wiring": ("airflow_aiinfra.cli",),
    # runs in the scoring pod too: no Airflow, no operators
    "airflow_aiinfra.monitoring": ("airflow", "airflow_aiinfra.spec", "airflow_aiinfra.plan", *RUNTIME),
}


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported(name: str, path: Path) -> list[tuple[str, int]]:
    """Every module an import statement of ``name`` names (absolute), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            found.append((base, node.lineno))
            found += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return found


def internal_edges() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for target, _ in imported(name, path):
            if target in mods and target != name and not name.startswith(target + "."):
                edges[name].add(target)
    return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the components of more than one module are the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(edges) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    cycles = strongly_connected(internal_edges())
    assert cycles == [], "import cycles (function-level imports count): " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_what_they_may(layer: str) -> None:
    bad = []
    for name, path in modules().items():
        if name != layer and not name.startswith(layer + "."):
            continue
        for target, line in imported(name, path):
            for banned in FORBIDDEN[layer]:
                if (target == banned or target.startswith(banned + ".")) and not target.startswith(layer):
                    bad.append(f"{path.relative_to(ROOT)}:{line}: imports {target} ({layer} must not import {banned})")
    assert bad == []


def test_imports_by_string_only_in_the_documented_place() -> None:
    bad = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            by_string = (
                isinstance(node, ast.Attribute) and node.attr in ("import_module", "import_string")
            ) or (isinstance(node, ast.Name) and node.id == "__import__")
            if by_string and name not in STRING_IMPORTS_ALLOWED:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bad == []


def test_package_inits_import_nothing_of_the_package() -> None:
    """A package __init__ that imports its modules turns every import of one of them into an import of all."""
    bad = []
    for name, path in modules().items():
        if path.name == "__init__.py":
            bad += [f"{name} imports {t}" for t, _ in imported(name, path) if t.startswith("airflow_aiinfra.")
                    and not (name == "airflow_aiinfra" and t.startswith("airflow_aiinfra.config"))]
    assert bad == []
