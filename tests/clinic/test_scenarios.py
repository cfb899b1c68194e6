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
