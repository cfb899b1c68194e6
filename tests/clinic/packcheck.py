"""Checking a broken copy of the demo pack: the copy, the line of a text in a file, the problems."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appliance.clinic.errors import PackError
from appliance.clinic.pack import DEMO_PACK, load_pack


def unapproved_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "pack"
    shutil.copytree(DEMO_PACK, dest)
    (dest / "approval.yaml").unlink()
    return dest


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def problems(root: Path) -> list[str]:
    with pytest.raises(PackError) as e:
        load_pack(root)
    assert "fix: correct each file at the line shown" in str(e.value)
    return e.value.problems
