"""The install scripts parse, and install.sh refuses bad input before touching the machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["install.sh", "build-wheelhouse.sh"])
def test_script_syntax(script: str) -> None:
    done = subprocess.run(["bash", "-n", str(ROOT / "provisioning" / script)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_install_needs_a_wheelhouse(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(ROOT / "provisioning" / "install.sh"), "--wheelhouse", str(tmp_path / "none")],
                          capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 2 and "no wheelhouse" in done.stderr
    done = subprocess.run(["bash", str(ROOT / "provisioning" / "install.sh"), "--bogus"],
                          capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 2 and "unknown option --bogus" in done.stderr
