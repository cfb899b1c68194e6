"""`appliance protocol ...`: validate a protocol pack, record a clinician's approval."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from appliance.cli.root import app

protocol_app = typer.Typer(help="Clinic protocol packs: validate, approve.", no_args_is_help=True)
app.add_typer(protocol_app, name="protocol")


@protocol_app.command("validate")
def validate(
    pack: Path = typer.Argument(..., help="The pack folder (holds clinic.yaml)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Check every file of the pack against the schema; each problem names file, line and expectation."""
    from appliance.clinic.approval import content_hash, read_approval
    from appliance.clinic.errors import PackError, PackNotApproved
    from appliance.clinic.pack import load_pack, missing_families

    try:
        loaded = load_pack(pack)
    except PackError as e:
        if as_json:
            typer.echo(json.dumps({"valid": False, "problems": e.problems or [e.message]}, indent=2))
            raise typer.Exit(1) from None
        raise
    note: str | None
    try:
        approval = read_approval(pack)
    except PackNotApproved as e:
        approval, note = None, str(e)
    else:
        note = None
    digest = content_hash(loaded)
    missing = missing_families(loaded)
    approved = approval is not None and approval.sha256 == digest
    info = {"valid": True, "pack": loaded.ref, "demo": loaded.clinic.pack.demo, "sha256": digest,
            "workflows": sorted(loaded.workflows), "missing_families": missing,
            "approved": approved, "approval": approval.__dict__ if approval else None}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"ok  {loaded.ref}: {len(loaded.workflows)} workflows, {len(loaded.menu.treatments)} treatments")
    if loaded.clinic.pack.demo:
        typer.echo("note: DEMO CONTENT - a licensed clinician must review and approve a real pack before use")
    for family in missing:
        typer.echo(f"note: no workflow for the {family} family")
    if approved and approval:
        typer.echo(f"approved by {approval.approver} ({approval.credential}) at {approval.approved_at}"
                   f"{' - for demonstration only' if approval.scope == 'demo' else ''}")
    elif approval:
        typer.echo(f"NOT APPROVED: content changed since {approval.approver} approved it; approve again")
    else:
        typer.echo(note or "NOT APPROVED: run `appliance protocol approve` after clinical review")


@protocol_app.command("approve")
def approve_cmd(
    pack: Path = typer.Argument(..., help="The pack folder."),
    clinician: str = typer.Option(..., "--clinician", help="Full name of the approving clinician."),
    credential: str = typer.Option(..., "--credential", help="Licence or title, e.g. 'NP, CA #12345'."),
    scope: str = typer.Option("clinical", "--scope", help="clinical (patient calls) or demo (demonstration "
                              "content only; the appliance warns on every start)."),
) -> None:
    """Validate the pack and record who approved this exact content, and when."""
    from appliance.clinic.approval import approve

    if scope not in ("clinical", "demo"):
        raise typer.BadParameter("use clinical or demo", param_hint="--scope")
    approval = approve(pack, clinician, credential, datetime.now(UTC), scope=scope)
    typer.echo(f"approved {approval.pack} by {approval.approver} ({approval.credential}) at {approval.approved_at}\n"
               f"sha256 {approval.sha256}")
