"""The root `appliance` Typer app and its global options; each command module adds its commands here."""

from __future__ import annotations

import typer

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
