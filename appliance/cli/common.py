"""Helpers shared by the CLI commands."""

from __future__ import annotations

import typer

from appliance.config import Settings, load_settings
from appliance.logs import configure


def settings_from(ctx: typer.Context) -> Settings:
    settings = load_settings((ctx.obj or {}).get("config"))
    configure(settings.logging.level, settings.logging.format)
    return settings
