"""`appliance run`: start the service and serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import sys

import typer

from appliance.cli.common import settings_from
from appliance.cli.root import app


@app.command()
def run(
    ctx: typer.Context,
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bar while models load "
                                  "(default: on a terminal)."),
) -> None:
    """Start the appliance: verify and load the models, answer calls, serve the console."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from appliance.models.resolver import ROLES
    from appliance.service import Appliance

    settings = settings_from(ctx)
    show = sys.stderr.isatty() if progress is None else progress
    appliance = Appliance(settings)
    if not show:
        asyncio.run(appliance.run())
        return
    console = Console(stderr=True)
    bar = Progress(TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.fields[stage]}"),
                   TimeElapsedColumn(), console=console, transient=True)
    tasks: dict[str, TaskID] = {role: bar.add_task(f"model {role}", total=3, stage="waiting") for role in ROLES}
    steps = {"verifying": 1, "loading": 2, "loaded": 3}

    def on_progress(role: str, stage: str) -> None:
        bar.update(tasks[role], completed=steps[stage], stage=stage)

    with bar:
        asyncio.run(appliance.run(on_progress, ready=bar.stop))
