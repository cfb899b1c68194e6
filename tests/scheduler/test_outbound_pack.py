"""The outbound call lines are a top-level pack file (outbound.yaml), validated with the pack and
covered by the pack's own approval: a changed line voids the approval like any other change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appliance.clinic.approval import load_approved
from appliance.clinic.errors import PackError, PackNotApproved
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import DEMO_PACK, Pack, load_pack


def copy_pack(tmp_path: Path) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(DEMO_PACK, root)
    return root


def test_demo_pack_lines_are_approved_with_the_pack(pack: Pack) -> None:
    _, approval = load_approved(DEMO_PACK)
    assert approval.scope == "demo"
    assert "outbound.yaml" in pack.data
    lines = load_lines(pack)
    assert lines is pack.outbound and "{clinic}" in lines.opener
    assert not (DEMO_PACK / "outbound").exists()


def test_changed_line_voids_the_pack_approval(tmp_path: Path) -> None:
    root = copy_pack(tmp_path)
    path = root / "outbound.yaml"
    path.write_text(path.read_text().replace("Thank you, and take care.", "Take care now."))
    with pytest.raises(PackNotApproved) as err:
        load_approved(root)
    assert err.value.code == "pack-changed"
    with pytest.raises(PackNotApproved, match="changed since approval"):
        load_lines(load_pack(root))
    assert load_lines(load_pack(root), approved=False).goodbye == "Take care now. Goodbye."


def test_pack_without_outbound_lines_is_valid_but_places_no_calls(tmp_path: Path) -> None:
    root = copy_pack(tmp_path)
    (root / "outbound.yaml").unlink()
    pack = load_pack(root)
    assert pack.outbound is None
    with pytest.raises(PackError, match="no outbound call lines"):
        load_lines(pack, approved=False)


def test_phi_before_identity_is_refused_with_file_and_line(tmp_path: Path) -> None:
    root = copy_pack(tmp_path)
    path = root / "outbound.yaml"
    text = path.read_text()
    line = next(i for i, t in enumerate(text.splitlines(), start=1) if t.startswith("voicemail:"))
    path.write_text(text.replace("with a routine courtesy call", "about your {treatment}"))
    with pytest.raises(PackError) as err:
        load_pack(root)
    assert any(p.startswith(f"outbound.yaml:{line}:") and "must not name {treatment}" in p for p in err.value.problems), \
        err.value.problems


def test_the_old_outbound_folder_is_pointed_out(tmp_path: Path) -> None:
    root = copy_pack(tmp_path)
    (root / "outbound").mkdir()
    shutil.move(root / "outbound.yaml", root / "outbound" / "lines.yaml")
    with pytest.raises(PackError) as err:
        load_pack(root)
    assert any(p.startswith("outbound/:") and "outbound.yaml" in p for p in err.value.problems), err.value.problems
