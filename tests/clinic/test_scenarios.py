"""Every scenario script, played through the real `appliance converse --script FILE --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.clinic.scenario_check import check

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.yaml"))


def converse(script: Path, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "appliance", "converse", "--script", str(script), "--json", *extra],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_procedure_family_has_a_scenario() -> None:
    families = {"neuromodulator": ("botox", "xeomin", "dysport"), "filler": ("filler",), "laser": ("ipl", "laser"),
                "peel": ("peel",), "microneedling": ("microneedling",)}
    names = " ".join(p.stem for p in SCENARIOS)
    for family, keys in families.items():
        assert any(k in names for k in keys), f"no scenario for {family}"


@pytest.mark.parametrize("script", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(script: Path) -> None:
    expect = yaml.safe_load(script.read_text())["expect"]
    doc = converse(script)
    assert doc["pack"] == "demo-clinic@2025.1" and doc["pack_approved"] is True
    check(doc, expect)


def test_interactive_converse_on_piped_input() -> None:
    proc = subprocess.run([sys.executable, "-m", "appliance", "converse", "--known"], capture_output=True, text=True,
                          timeout=120, input="I have a concern about my filler\nI think my vision is blurry\n")
    assert proc.returncode == 0, proc.stderr
    assert "agent: Thank you for calling" in proc.stdout
    assert "[escalate emergency vision-change" in proc.stdout and "outcome: escalated" in proc.stdout


def test_bad_script_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("caller:\n  phone: '1'\n  favourite_colour: blue\nturns:\n  - hello\n")
    proc = subprocess.run([sys.executable, "-m", "appliance", "converse", "--script", str(bad), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "bad.yaml:3: caller.favourite_colour: not a field of this section" in proc.stderr
