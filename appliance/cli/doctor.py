"""`appliance doctor`: one line per check, a fix hint for each failure, non-zero exit on failure."""

from __future__ import annotations

import json

import typer

from appliance.cli.common import settings_from
from appliance.cli.root import app


@app.command()
def doctor(
    ctx: typer.Context,
    only: list[str] = typer.Option(None, "--only", help="Run only these checks (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Self-test: models, database key, disk, clock, PBX, ports, certificate."""
    from appliance.setup.doctor import CHECKS, as_dicts, failed, load_providers, run_checks

    settings = settings_from(ctx)
    load_providers()
    known = {name for name, _ in CHECKS}
    unknown = set(only or ()) - known
    if unknown:
        raise typer.BadParameter(f"unknown check(s) {sorted(unknown)}; known: {sorted(known)}", param_hint="--only")
    results = run_checks(settings, set(only) if only else None)
    if as_json:
        typer.echo(json.dumps(as_dicts(results), indent=1))
    else:
        for r in results:
            typer.echo(r.line())
        bad = sum(r.status == "fail" for r in results)
        typer.echo(f"{len(results)} checks, {bad} failed" if bad else f"{len(results)} checks, all passed or n/a")
    if failed(results):
        raise typer.Exit(1)
