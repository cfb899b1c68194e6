"""`appliance aftercare ...` against a real encrypted database in a temporary folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp / "appliance.toml"
    if not cfg.exists():
        cfg.write_text(f'[paths]\ndata_dir = "{tmp / "var"}"\n')
    return subprocess.run([sys.executable, "-m", "appliance", "--config", str(cfg), "aftercare", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def test_record_plan_import_opt_out_run_due(tmp_path: Path) -> None:
    p = run(tmp_path, "record-treatment", "--name", "Dana Lee", "--phone", "+1 555 010 2233", "--dob", "1985-04-12",
            "--procedure", "neuromodulator-botox", "--date", "2025-03-07", "--now", "2025-03-07T12:00-08:00")
    assert p.returncode == 0, p.stderr
    assert "plan 1: 4 contacts" in p.stdout and "check-in" in p.stdout and "recall" in p.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone,dob,procedure,date\nAna Ruiz,5550100200,1990-01-01,ha-filler,2025-03-01\n"
                   "Bo Chan,5550100300,1991-02-02,tattoo,2025-03-01\nCy Dee,5550100400,02/03/91,ha-filler,2025-03-01\n")
    p = run(tmp_path, "import", str(bad))
    assert p.returncode == 2 and "bad.csv:3" in p.stderr and "bad.csv:4" in p.stderr and "nothing was imported" in p.stderr
    good = tmp_path / "good.csv"
    good.write_text("name,phone,dob,procedure,date,time_zone\nAna Ruiz,5550100200,1990-01-01,ha-filler,2025-03-01,"
                    "America/New_York\n")
    p = run(tmp_path, "import", str(good), "--now", "2025-03-01T12:00-08:00")
    assert p.returncode == 0 and "imported 1 treatment(s)" in p.stdout, p.stderr
    p = run(tmp_path, "run-due", "--dry-run", "--now", "2025-03-08T10:30-08:00")
    assert p.returncode == 0 and "check-in" in p.stdout and "Dana" not in p.stdout, p.stderr
    p = run(tmp_path, "opt-out", "+1 (555) 010-2233")
    assert p.returncode == 0 and "4 future contact(s) cancelled" in p.stdout, p.stdout + p.stderr
    p = run(tmp_path, "plan", "1")
    assert p.returncode == 0 and p.stdout.count("cancelled") == 4, p.stdout
    p = run(tmp_path, "run-due", "--dry-run", "--now", "2025-03-08T10:30-08:00")
    assert "plan 1 " not in p.stdout
