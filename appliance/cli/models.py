"""`appliance models ...`: list and verify the model files."""

from __future__ import annotations

import json

import typer

from appliance.cli.common import settings_from
from appliance.cli.root import app

models_app = typer.Typer(help="The bundled models: list them, verify their checksums.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("verify")
def verify(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Find every model file and check its sha256 against the manifest (or the site override)."""
    from appliance.models.resolver import resolve_all

    resolved = resolve_all(settings_from(ctx))
    rows = [
        {"role": role, "name": m.spec.name, "package": m.spec.package, "version": m.spec.version,
         "path": str(m.path), "licence": m.spec.licence, "sample_rate": m.spec.sample_rate}
        for role, m in resolved.items()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        source = f"{r['package']}=={r['version']}" if r["package"] else "site file"
        typer.echo(f"ok  {r['role']:<5} {r['name']:<36} {source:<30} {r['licence']}")
