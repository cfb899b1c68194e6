"""The call's layers do not reach up into the staff console: telephony, voice, clinic and
records import nothing from `appliance.staff` (read from the source, imports inside functions
included). The composition roots (`callflow`, `scheduler`, `service`) wire staff into calls.

Every import between packages goes down the layers of docs/architecture.md, except the ones
listed here that are still to be undone; a new one fails, and so does one listed that is gone
(the list stays the truth). The same for the cycles between modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.foundation.imports import cycles, module_graph, package_graph, package_of

ROOT = Path(__file__).resolve().parents[2] / "appliance"
CALL_LAYERS = ("telephony", "voice", "clinic", "records")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in one file."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
    return out


def test_the_reader_finds_imports_inside_functions(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import os\n\ndef f():\n    from appliance.staff.paging import topic\n    return topic\n")
    assert imports_of(src) == [(1, "os"), (4, "appliance.staff.paging")]


@pytest.mark.parametrize("layer", CALL_LAYERS)
def test_a_call_layer_imports_nothing_from_the_staff_console(layer: str) -> None:
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, layer
    found = [f"{f.relative_to(ROOT.parent)}:{line}: {mod}" for f in files for line, mod in imports_of(f)
             if mod == "appliance.staff" or mod.startswith("appliance.staff.")]
    assert found == [], found


# docs/architecture.md, bottom up: a package may import from its own layer and the ones below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "logs"), ("calls", "conversation"), ("config",), ("models",), ("telephony",), ("voice",),
    ("inference",), ("clinic",), ("records",), ("live",), ("calsync",), ("messaging",), ("golive",), ("scheduler",),
    ("setup",), ("staff",), ("callflow",), ("service",), ("cli", "__main__"),
)

# Imports that still go up a layer (module → module, without the `appliance.` prefix).
UPWARD: set[tuple[str, str]] = set()

MODULE_CYCLES: list[frozenset[str]] = []


def _short(name: str) -> str:
    return name.removeprefix("appliance.")


def test_imports_between_packages_go_down_the_layers() -> None:
    rank = {p: i for i, layer in enumerate(LAYERS) for p in layer}
    graph = module_graph()
    packages = {_short(package_of(m)) for m in graph if m != "appliance"}
    assert packages <= set(rank), f"add {sorted(packages - set(rank))} to LAYERS and docs/architecture.md"
    upward = {(_short(a), _short(b)) for a, targets in graph.items() for b in targets
              if a != "appliance" and b != "appliance"
              and rank[_short(package_of(b))] > rank[_short(package_of(a))]}
    assert sorted(upward - UPWARD) == [], "new imports up the layers"
    assert sorted(UPWARD - upward) == [], "undone: take them off UPWARD"


def test_module_cycles_are_only_the_known_ones() -> None:
    found = [frozenset(_short(m) for m in c) for c in cycles(module_graph())]
    assert [sorted(c) for c in found if c not in MODULE_CYCLES] == [], "a new import cycle"
    assert [sorted(c) for c in MODULE_CYCLES if c not in found] == [], "undone: take it off MODULE_CYCLES"


def test_no_cycle_between_packages() -> None:
    assert cycles(package_graph()) == []


def test_the_cycle_finder_finds_a_cycle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_architecture_page_names_every_package() -> None:
    page = (ROOT.parent / "docs" / "architecture.md").read_text()
    names = sorted({_short(package_of(m)) for m in module_graph() if m != "appliance"} - {"__main__"})
    assert [n for n in names if f"`{n}`" not in page] == []
