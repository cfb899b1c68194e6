"""Pack validation (file, line, expectation), approval and the refusal of unapproved packs."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.clinic.approval import approve, content_hash, load_approved
from appliance.clinic.errors import PackError, PackNotApproved
from appliance.clinic.pack import DEMO_PACK, load_pack, missing_families
from tests.clinic.packcheck import line_of, unapproved_copy
from tests.clinic.packcheck import problems as pack_problems


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    return unapproved_copy(tmp_path)


def test_demo_pack_is_valid_complete_marked_and_approved_for_demo_only() -> None:
    pack, approval = load_approved(DEMO_PACK)
    assert pack.clinic.pack.demo and "DEMO CONTENT" in (pack.clinic.pack.notice or "")
    assert missing_families(pack) == []
    lasers = [wf for wf in pack.workflows.values() if wf.family == "laser"]
    assert len({(w.device, w.indication) for w in lasers}) >= 2
    assert approval.scope == "demo" and "DEMO" in approval.approver
    for f in [*DEMO_PACK.glob("*.yaml"), *DEMO_PACK.glob("workflows/*.yaml")]:
        if f.name != "approval.yaml":
            assert "DEMO CONTENT" in f.read_text().splitlines()[0], f


def test_red_flag_without_action_names_file_and_line(pack_dir: Path) -> None:
    wf = pack_dir / "workflows" / "dermal-filler-ha.yaml"
    text = wf.read_text()
    wf.write_text(text.replace("    severity: emergency\n    action: transfer_np\n", "    severity: emergency\n", 1))
    line = line_of(wf, "id: fi-rf-blanching")
    problems = pack_problems(pack_dir)
    assert any(p.startswith(f"workflows/dermal-filler-ha.yaml:{line}: red_flags.0.action: this field is required")
               for p in problems), problems


def test_missing_field_names_file_and_line(pack_dir: Path) -> None:
    menu = pack_dir / "menu.yaml"
    menu.write_text(menu.read_text().replace("    price_per_unit: 14\n", "", 1))
    line = line_of(menu, "id: botox")
    problems = pack_problems(pack_dir)
    assert f"menu.yaml:{line}: treatments.0.price_per_unit: this field is required" in problems, problems


def test_unknown_procedure_names_file_and_line(pack_dir: Path) -> None:
    wf = pack_dir / "workflows" / "peel-medium.yaml"
    wf.write_text(wf.read_text().replace("family: peel", "family: tattoo-removal"))
    line = line_of(wf, "family: tattoo-removal")
    problems = pack_problems(pack_dir)
    assert any(re.match(rf"workflows/peel-medium.yaml:{line}: family: expected 'neuromodulator'.*"
                        r"\(got 'tattoo-removal'\)", p) for p in problems), problems


def test_menu_pointing_at_unknown_workflow(pack_dir: Path) -> None:
    menu = pack_dir / "menu.yaml"
    menu.write_text(menu.read_text().replace("workflow: peel-medium", "workflow: peel-deep"))
    line = line_of(menu, "workflow: peel-deep")
    problems = pack_problems(pack_dir)
    assert any(p.startswith(f"menu.yaml:{line}: treatments.6.workflow: unknown procedure workflow 'peel-deep'")
               for p in problems), problems


def test_yaml_syntax_error_and_duplicate_ids(pack_dir: Path) -> None:
    screen = pack_dir / "screen.yaml"
    screen.write_text(screen.read_text().replace("id: q-budget", "id: q-prior"))
    clinic = pack_dir / "clinic.yaml"
    clinic.write_text(clinic.read_text() + "providers: [\n")
    problems = pack_problems(pack_dir)
    assert any(p.startswith("clinic.yaml:") and "not valid YAML" in p for p in problems), problems


def test_one_workflow_per_laser_device_and_indication(pack_dir: Path) -> None:
    src = pack_dir / "workflows" / "laser-ipl-pigment.yaml"
    text = src.read_text().replace("id: laser-ipl-pigment", "id: laser-ipl-copy")
    text = re.sub(r"id: ipl-", "id: iplc-", text)
    (pack_dir / "workflows" / "laser-ipl-copy.yaml").write_text(text)
    assert any("one workflow per device and indication" in p for p in pack_problems(pack_dir))


def test_laser_without_device_is_rejected(pack_dir: Path) -> None:
    wf = pack_dir / "workflows" / "laser-diode-hair.yaml"
    wf.write_text(wf.read_text().replace("device: 810 nm diode laser\n", ""))
    assert any("needs device and indication" in p for p in pack_problems(pack_dir))


def test_approval_records_and_detects_changes(pack_dir: Path) -> None:
    with pytest.raises(PackNotApproved) as e:
        load_approved(pack_dir)
    assert e.value.code == "pack-unapproved"
    approval = approve(pack_dir, "Alex Rivera", "NP, CA 12345", datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
    assert approval.sha256 == content_hash(load_pack(pack_dir))
    pack, recorded = load_approved(pack_dir)
    assert recorded.approver == "Alex Rivera" and recorded.credential == "NP, CA 12345"
    assert recorded.approved_at == "2025-03-01T09:00:00+00:00"
    # a comment is not content; a changed sentence is
    wf = pack_dir / "workflows" / "neuromodulator-botox.yaml"
    wf.write_text("# reviewed again\n" + wf.read_text())
    load_approved(pack_dir)
    wf.write_text(wf.read_text().replace("stay upright", "feel free to lie down"))
    with pytest.raises(PackNotApproved) as e:
        load_approved(pack_dir)
    assert e.value.code == "pack-changed" and "Alex Rivera" in str(e.value)


def test_approve_refuses_an_invalid_pack(pack_dir: Path) -> None:
    (pack_dir / "dialogue.yaml").write_text("greeting: hello {nobody}\n")
    with pytest.raises(PackError):
        approve(pack_dir, "A", "B", datetime.now(UTC))
    assert not (pack_dir / "approval.yaml").exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True, timeout=60)


def test_cli_validate_and_approve(pack_dir: Path) -> None:
    ok = _cli("protocol", "validate", str(DEMO_PACK))
    assert ok.returncode == 0 and "DEMO CONTENT" in ok.stdout and "demonstration only" in ok.stdout
    fresh = _cli("protocol", "validate", str(pack_dir))
    assert fresh.returncode == 0 and "NOT APPROVED" in fresh.stdout
    done = _cli("protocol", "approve", str(pack_dir), "--clinician", "Alex Rivera", "--credential", "NP")
    assert done.returncode == 0, done.stderr
    assert "approved by Alex Rivera" in _cli("protocol", "validate", str(pack_dir)).stdout
    wf = pack_dir / "workflows" / "dermal-filler-ha.yaml"
    wf.write_text(wf.read_text().replace("    action: transfer_np\n", "", 1))
    bad = _cli("protocol", "validate", str(pack_dir))
    assert bad.returncode == 2
    assert re.search(r"workflows/dermal-filler-ha.yaml:\d+: red_flags.0.action: this field is required", bad.stderr)


def test_pack_for_calls_uses_config_and_refuses_unapproved(pack_dir: Path, write_config) -> None:
    from appliance.clinic.service import pack_for_calls
    from appliance.config import load_settings

    assert pack_for_calls(load_settings()).ref == "demo-clinic@2025.1"
    cfg = write_config(f'[clinic]\npack = "{pack_dir}"\nllm_assist = false\n')
    settings = load_settings(cfg)
    assert settings.clinic.llm_assist is False
    with pytest.raises(PackNotApproved, match="has not been approved"):
        pack_for_calls(settings)
