"""`appliance simulate CALLER.wav`: play a recorded caller into the voice pipeline in real time."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from appliance.cli.common import settings_from
from appliance.cli.root import app

if TYPE_CHECKING:  # the voice stack (numpy, onnxruntime, llama.cpp) loads when the command runs
    from appliance.config import Settings
    from appliance.conversation import Conversation
    from appliance.voice.engines import Engines
    from appliance.voice.filemedia import FileCallMedia


def make_conversation(settings: Settings, engines: Engines, fixed_reply: str | None = None,
                      kind: str = "clinic") -> Conversation:
    """The conversation a simulated call talks to: by default the clinic's, from the approved
    pack, exactly as on a phone call; or LLM small talk; or one fixed line."""
    from appliance.voice.smalltalk import FixedReplyConversation, SmallTalkConversation

    if fixed_reply:
        return FixedReplyConversation(fixed_reply)
    if kind == "smalltalk":
        return SmallTalkConversation(engines.llm)
    from appliance.clinic.context import CallerContext
    from appliance.clinic.service import new_conversation, pack_for_calls

    pack = pack_for_calls(settings)
    return new_conversation(pack, settings, caller=CallerContext(),
                            scheduler=None,  # type: ignore[arg-type]  # None: ClinicConversation makes its own
                            llm=engines.llm)


async def _simulate(settings: Settings, caller: Path, tail_s: float, fixed_reply: str | None = None,
                    kind: str = "clinic") -> tuple[FileCallMedia, dict[str, Any]]:
    from appliance.service import Appliance
    from appliance.voice.audio import read_wav
    from appliance.voice.filemedia import FileCallMedia
    from appliance.voice.session import VoiceSession
    from appliance.voice.smalltalk import SYSTEM as SMALLTALK_SYSTEM

    pcm = await asyncio.to_thread(read_wav, caller)
    engines = await Appliance(settings).load_engines()
    if kind == "smalltalk" and not fixed_reply:
        await engines.llm.warm(SMALLTALK_SYSTEM)  # the fixed prompt's KV state, ahead
    media = FileCallMedia(pcm, tail_s=tail_s)
    session = VoiceSession(media, make_conversation(settings, engines, fixed_reply, kind), engines, settings)
    try:
        outcome = await session.run()
    finally:
        await media.close()
    doc = {
        "caller": str(caller),
        "caller_seconds": round(len(pcm) / 16000, 2),
        "endpointing": settings.voice.endpointing,
        "hangup": media.hangup_reason,
        "agent_audio_ms": len(media.sent) * 20,
        "metrics": session.metrics.as_dict(),
        "turns": [{"speaker": t.speaker, "text": t.text, "provenance": t.provenance,
                   "heard_fraction": t.heard_fraction} for t in outcome.turns],
        "outcome": outcome.outcome,
        "barge_ins": [e for e in session.metrics.events if e["event"] == "voice.barge_in"],
    }
    return media, doc


@app.command()
def simulate(
    ctx: typer.Context,
    caller: Path = typer.Argument(..., exists=True, dir_okay=False, help="Caller recording (16-bit WAV, any rate)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write what the appliance said (8 kHz WAV, on the call's timeline)."),
    as_json: bool = typer.Option(False, "--json", help="Print the transcript and per-turn timings as JSON."),
    tail: float = typer.Option(4.0, "--tail", min=0.0, max=60.0, help="Seconds of silence after the recording."),
    fixed_reply: str = typer.Option(None, "--fixed-reply", help="Answer every turn with this cacheable line "
                                    "(no LLM: the timing of approved protocol lines)."),
    conversation: str = typer.Option("clinic", "--conversation", help="clinic (the approved pack, as on a phone "
                                     "call) or smalltalk (LLM chat, no clinical content)."),
) -> None:
    """Play CALLER.wav into the voice pipeline in real time; report what was said and how fast."""
    from appliance.voice.audio import write_wav

    settings = settings_from(ctx)
    if conversation not in ("clinic", "smalltalk"):
        raise typer.BadParameter("use clinic or smalltalk", param_hint="--conversation")
    media, doc = asyncio.run(_simulate(settings, caller, tail, fixed_reply, conversation))
    if out:
        write_wav(out, media.output_pcm())
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for turn in doc["turns"]:
        cut = "" if turn["heard_fraction"] >= 1.0 else f"  [cut at {turn['heard_fraction']:.0%}]"
        typer.echo(f"{turn['speaker']:>6}: {turn['text']}{cut}")
    for m in doc["metrics"]["turns"]:
        typer.echo(f"turn {m['turn']}: speech end -> transcript {m['asr_ms']} ms, "
                   f"LLM first token {m['llm_first_token_ms']} ms, TTS first audio {m['tts_first_audio_ms']} ms, "
                   f"voice-to-voice {m['voice_to_voice_ms']} ms")
