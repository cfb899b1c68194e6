"""The demo-pack gate on the call path: a call that is not a test call, to an appliance whose
pack is demo content, hears the built-in not-in-service line, is transferred to the front desk
(when one is configured) and is hung up. Nothing from the pack is spoken; no record is made of
the caller beyond the log line (which names neither the number nor the caller)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from appliance.calls import CallMedia, HangUp
from appliance.clinic.pack import Pack
from appliance.config import Settings
from appliance.golive.lines import NOT_IN_SERVICE, NOT_IN_SERVICE_PROVENANCE
from appliance.golive.policy import gate, is_test_call
from appliance.logs import get_logger, hostile

log = get_logger(__name__)
PLAYOUT_LIMIT_S = 20.0
TRANSFER_TIMEOUT_S = 30.0


def is_demo(pack: Pack) -> bool:
    """Demo content: the pack says so, or its approval has scope `demo`."""
    from appliance.clinic.approval import read_approval
    from appliance.errors import ApplianceError

    if pack.clinic.pack.demo:
        return True
    try:
        approval = read_approval(pack.root)
    except ApplianceError:
        return False  # load_approved refused such a pack before any call
    return approval is not None and approval.scope == "demo"


def admits(settings: Settings, demo: bool, info: Any) -> bool:
    """May this call reach the pack's conversation? Every call from the SIP edge names its source;
    media made in this process (`appliance simulate`, file media in tests) has none and is a test."""
    extra = getattr(info, "extra", None) or {}
    if "source" not in extra:
        return True
    source = extra["source"]
    test = is_test_call(settings.golive, source=source, number=info.remote_number, direction=info.direction,
                        own_address=settings.sip.bind_host)
    return gate(demo, test) == "answer"


async def _line_pcm(tts: Any) -> bytes:
    from appliance.voice.audio import split_sentences
    from appliance.voice.interfaces import Synthesizer

    synth: Synthesizer = tts
    parts = []
    for part in split_sentences(NOT_IN_SERVICE):
        pcm = synth.cached(part)
        if pcm is None:  # not pinned at start-up (a tool or a test): synthesise once and cache it
            pcm = await asyncio.to_thread(synth.synthesize, part, cache=True)
        parts.append(pcm)
    return b"".join(parts)


async def _played(media: CallMedia, hung_up: asyncio.Event) -> None:
    deadline = time.monotonic() + PLAYOUT_LIMIT_S
    while media.pending_audio_ms() > 0 and not hung_up.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # the media layer paces playout and offers no "drained" event
    if not hung_up.is_set():
        await asyncio.sleep(0.2)  # the last packet on the wire


async def not_in_service(media: CallMedia, tts: Any, front_desk: str | None) -> dict[str, Any]:
    """Play the line, transfer to the front desk if configured, hang up. Returns what happened."""
    info = media.info
    hung_up = asyncio.Event()

    async def drain() -> None:
        while not isinstance(await media.recv(), HangUp):
            pass
        hung_up.set()

    drainer = asyncio.create_task(drain())
    done: dict[str, Any] = {"provenance": NOT_IN_SERVICE_PROVENANCE, "transfer": None}
    try:
        media.send_audio(await _line_pcm(tts))
        await _played(media, hung_up)
        if front_desk and not hung_up.is_set():
            result = await media.transfer(front_desk)
            done["transfer"] = {"ok": result.ok, "target": front_desk, "detail": result.detail}
        if not hung_up.is_set():
            await media.hangup("not-in-service")
    finally:
        drainer.cancel()
    source = (getattr(info, "extra", None) or {}).get("source")
    log.warning("golive.not_in_service", call_id=hostile(info.call_id), source=hostile(source or ""),
                provenance=NOT_IN_SERVICE_PROVENANCE, transferred=bool(done["transfer"] and done["transfer"]["ok"]),
                target=front_desk, detail=hostile((done["transfer"] or {}).get("detail", "")),
                caller_hung_up=hung_up.is_set(), audio_ms=media.sent_audio_ms(), note="demo pack: test calls only")
    return done
