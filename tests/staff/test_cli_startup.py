"""The `appliance` command starts light: registering every command imports no heavy library
(the web stack, SQLCipher, cryptography, the voice and model stack load when a command runs)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("fastapi", "uvicorn", "sqlcipher3", "cryptography", "argon2", "numpy", "onnxruntime", "llama_cpp", "pipecat",
         "faster_whisper", "piper", "pyVoIP", "appliance.records.store", "appliance.clinic.engine")


def test_registering_the_commands_imports_no_heavy_library() -> None:
    code = ("import sys, json; from appliance.cli import _register; _register(); "
            "print(json.dumps(sorted(m for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60, check=True)
    loaded = set(json.loads(out.stdout))
    assert [m for m in HEAVY if m in loaded] == []


def test_cli_constants_match_the_modules_they_stand_for() -> None:
    from appliance.cli import _register, app
    from appliance.cli.staff import ROLES
    from appliance.records.users import ROLES as STORE_ROLES
    from appliance.setup.provision import SERVICE_USER

    assert ROLES == STORE_ROLES
    _register()
    provision = next(c for c in app.registered_commands if c.callback and c.callback.__name__ == "provision")
    assert inspect.signature(provision.callback).parameters["user"].default.default == SERVICE_USER
