"""`appliance converse`: the conversation engine with typed turns instead of audio.

Interactive on a terminal, or `--script FILE.yaml --json` for a scripted call (see
appliance/clinic/script.py for the script format). Clinicians use it to review flows.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer

from appliance.cli.common import settings_from
from appliance.cli.root import app

if TYPE_CHECKING:  # the clinic engine is imported by the command, so `appliance --help` stays fast
    from appliance.clinic.pack import Pack
    from appliance.clinic.script import Script
    from appliance.conversation import LanguageModel, Reply


def _pack(ctx: typer.Context, path: Path | None) -> tuple[Pack, bool]:
    from appliance.clinic.approval import load_approved
    from appliance.clinic.errors import PackNotApproved
    from appliance.clinic.pack import DEMO_PACK, load_pack

    root = path or settings_from(ctx).clinic.pack or DEMO_PACK
    try:
        pack, _ = load_approved(root)
        return pack, True
    except PackNotApproved as e:
        typer.echo(f"warning: {e.message} - review only, the appliance will not take calls with it", err=True)
        return load_pack(root), False


def _llm(enabled: bool, ctx: typer.Context) -> LanguageModel | None:
    if not enabled:
        return None
    from appliance.models.resolver import resolve_all
    from appliance.voice.engines import load_llm
    from appliance.voice.llm import LlamaLanguageModel

    settings = settings_from(ctx)
    return LlamaLanguageModel(load_llm(resolve_all(settings)["llm"], settings))


@app.command()
def converse(
    ctx: typer.Context,
    script: Path = typer.Option(None, "--script", help="A scripted call (YAML): caller context and turns."),
    as_json: bool = typer.Option(False, "--json", help="Print the call's outcome document as JSON."),
    pack_path: Path = typer.Option(None, "--pack", help="Protocol pack folder (default: configured, else demo)."),
    llm: bool = typer.Option(False, "--llm/--no-llm", help="Let the local language model label what rules miss."),
    known: bool = typer.Option(False, "--known", help="Interactive: the caller is a known patient."),
) -> None:
    """Talk to the conversation engine: type the caller's turns (digits 0-9 * # alone are key presses)."""
    from appliance.clinic.script import Script, ScriptCaller, load_script, run_script

    pack, approved = _pack(ctx, pack_path)
    model = _llm(llm, ctx)
    now = datetime.now(ZoneInfo(pack.clinic.timezone)).replace(tzinfo=None)
    if script is not None:
        doc = asyncio.run(run_script(pack, load_script(script), now=now, llm=model))
        doc["pack_approved"] = approved
        if as_json:
            typer.echo(json.dumps(doc, indent=2, default=str))
        else:
            for t in doc["turns"]:
                typer.echo(f"{t['speaker']:>6}: {t['text']}" + (f"  [{t['provenance']}]" if t["provenance"] else ""))
            typer.echo(f"outcome: {doc['outcome']}")
        return
    asyncio.run(_interactive(pack, now, model, Script(turns=["-"], caller=ScriptCaller(known_patient=known)), as_json))


async def _interactive(pack: Pack, now: datetime, model: LanguageModel | None, script: Script, as_json: bool) -> None:
    from appliance.clinic.engine import ClinicConversation
    from appliance.clinic.script import caller_context, outcome_document

    conv = ClinicConversation(pack, now=now, caller=caller_context(script), llm=model)

    def show(reply: Reply) -> None:
        for say in reply.says:
            typer.echo(f" agent: {say.text}")
        for action in reply.actions:
            typer.echo(f"   [{action.kind} {action.severity or ''} {action.category or ''} {action.target or ''}]")

    reply = conv.start()
    show(reply)
    while not reply.end_call:
        try:
            text = await asyncio.to_thread(input, "caller> ")
        except EOFError:
            break
        text = text.strip()
        reply = await (conv.caller_pressed(text) if len(text) == 1 and text in "0123456789*#" else conv.caller_said(text))
        show(reply)
    outcome = conv.ended("completed" if reply.end_call else "caller-hung-up")
    if as_json:
        print(json.dumps(outcome_document(outcome, conv.protected), indent=2, default=str), file=sys.stdout)
    else:
        typer.echo(f"outcome: {outcome.outcome}")
