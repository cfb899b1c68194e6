"""Helpers shared by the CLI commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from appliance.config import Settings


def settings_from(ctx: typer.Context) -> Settings:
    from appliance.config import load_settings
    from appliance.logs import configure

    settings = load_settings((ctx.obj or {}).get("config"))
    configure(settings.logging.level, settings.logging.format)
    return settings
