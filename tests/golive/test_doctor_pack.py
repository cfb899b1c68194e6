"""`appliance doctor` checks the protocol pack: demo, unapproved, changed and old approvals fail,
each with its fix; the line says who approved which pack and when."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from appliance.clinic.approval import approve
from appliance.clinic.pack import APPROVAL_FILE, DEMO_PACK
from appliance.config import ClinicSettings, GoLiveSettings, Settings
from appliance.golive.packstatus import pack_status
from appliance.setup.doctor import check_pack


def clinic_pack(tmp_path: Path) -> Path:
    """A copy of the demo pack made into a clinic's own pack (not demo), not yet approved."""
    root = tmp_path / "pack"
    shutil.copytree(DEMO_PACK, root)
    (root / APPROVAL_FILE).unlink()
    clinic = yaml.safe_load((root / "clinic.yaml").read_text())
    clinic["pack"]["demo"] = False
    clinic["pack"]["id"] = "harbor"
    (root / "clinic.yaml").write_text(yaml.safe_dump(clinic, sort_keys=False))
    return root


def doctor_pack(pack: Path | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n' + (f'[clinic]\npack = "{pack}"\n' if pack else ""))
    return subprocess.run([sys.executable, "-m", "appliance", "--config", str(cfg), "doctor", "--only", "pack"],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_demo_pack_fails_with_the_fix(tmp_path: Path) -> None:
    done = doctor_pack(None, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("FAIL    pack"), done.stdout
    assert "DEMO content" in done.stdout and "demo-clinic@" in done.stdout
    assert "fix: install the clinic's own pack" in done.stdout and "appliance protocol approve" in done.stdout


def test_an_unapproved_pack_fails_with_the_fix(tmp_path: Path) -> None:
    done = doctor_pack(clinic_pack(tmp_path), tmp_path)
    assert done.returncode == 1
    assert "never been approved" in done.stdout and "fix: have a licensed clinician review it" in done.stdout


def test_a_changed_pack_fails_with_the_fix_and_an_approved_one_passes(tmp_path: Path) -> None:
    root = clinic_pack(tmp_path)
    approve(root, "Dana Reyes", "NP-C 44120", datetime.now(UTC))
    done = doctor_pack(root, tmp_path)
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("PASS    pack") and "approved by Dana Reyes (NP-C 44120) on" in done.stdout
    clinic = yaml.safe_load((root / "clinic.yaml").read_text())
    clinic["name"] = "Another name"
    (root / "clinic.yaml").write_text(yaml.safe_dump(clinic, sort_keys=False))
    done = doctor_pack(root, tmp_path)
    assert done.returncode == 1
    assert "changed since Dana Reyes approved" in done.stdout and "fix: have a clinician review the changes" in done.stdout


def test_an_old_approval_fails_after_the_configured_months(tmp_path: Path) -> None:
    root = clinic_pack(tmp_path)
    approve(root, "Dana Reyes", "NP-C 44120", datetime(2025, 1, 10, tzinfo=UTC))
    settings = Settings(clinic=ClinicSettings(pack=root), golive=GoLiveSettings(approval_max_months=12))
    st = pack_status(settings, datetime(2025, 12, 31, tzinfo=UTC))
    assert st.ok
    st = pack_status(settings, datetime(2026, 1, 10, tzinfo=UTC))
    assert [p.code for p in st.problems] == ["approval-old"]
    results = check_pack(settings.model_copy(update={"golive": GoLiveSettings(approval_max_months=1)}))
    assert results[0].status == "fail" and "approved" in results[0].detail and "months ago" in results[0].detail
    assert "approve it again" in (results[0].fix or "")
