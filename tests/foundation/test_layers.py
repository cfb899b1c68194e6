"""The call's layers do not reach up into the staff console: telephony, voice, clinic and
records import nothing from `appliance.staff` (read from the source, imports inside functions
included). The composition roots (`callflow`, `scheduler`, `service`) wire staff into calls."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
