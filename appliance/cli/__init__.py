"""The `appliance` command. Each concern adds its commands from its own module."""

from __future__ import annotations

import sys

import typer

from appliance.errors import ApplianceError

app = typer.Typer(
    help="On-premise voice appliance for aesthetic clinics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: str = typer.Option(
        None, "--config", "-c", envvar="APPLIANCE_CONFIG",
        help="Configuration file (default /etc/appliance/appliance.toml, else embedded defaults).",
    ),
) -> None:
    ctx.obj = {"config": config}


def _register() -> None:
    from appliance.cli import aftercare, converse, db, doctor, messages, models, protocol, provision, run, simulate, staff  # noqa: F401  (each module adds its commands to `app`)


def main() -> None:
    _register()
    try:
        app()
    except ApplianceError as e:
        print(f"error [{e.code}]: {e}", file=sys.stderr)
        sys.exit(2)
