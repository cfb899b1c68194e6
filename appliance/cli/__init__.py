"""The `appliance` command. Each concern adds its commands from its own module to the root app
(`appliance.cli.root`); `main` registers them all and runs it."""

from __future__ import annotations

import sys

from appliance.cli.root import app
from appliance.errors import ApplianceError

__all__ = ["app", "main"]


def _register() -> None:
    from appliance.cli import aftercare, converse, db, doctor, messages, models, protocol, provision, run, simulate, staff  # noqa: F401  (each module adds its commands to `app`)


def main() -> None:
    _register()
    try:
        app()
    except ApplianceError as e:
        print(f"error [{e.code}]: {e}", file=sys.stderr)
        sys.exit(2)
