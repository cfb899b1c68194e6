"""Issue 14's emergencies as real phone calls: kamailio as the clinic PBX, the appliance registered
as extension 2100 (`appliance run`), baresip dialling it from numbers the appliance does not know.

One appliance start answers four calls, all on the line together (3 s apart): the three scenarios
of issue 14 (two caller turns each, spaced so the appliance answers in between) and a caller who
starts talking 1.5 s into the greeting. Afterwards: the escalations table of the encrypted store
(severity as the pack demands), what the caller heard (baresip's recording, transcribed), and how
long the greeting kept the caller waiting, measured on the audio received on the wire (no wall
clock).
"""

from __future__ import annotations

import asyncio
import re
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from appliance.clinic.pack import load_pack
from benchmarks.corpus import telephone_speech, write_wav
from benchmarks.speech import FRAME, is_speech
from tests.foundation.heard import HEARD_SHARE, line_heard
from tests.foundation.helpers import ApplianceProcess
from tests.integration.test_phone_call import appliance_config, baresip_call
from tests.telephony.peers import kamailio

pytestmark = [pytest.mark.models, pytest.mark.slow]

PACK = "demo-clinic@2025.1#"
GREETING_LEAD_S = 7.5  # the greeting (one line, ~5 s) plays before the caller speaks
REPLY_GAP_S = 8.0  # after the first turn: the appliance's question (~4.5 s) and its latency
TAIL_S = 19.0  # after the second turn: the escalation line (up to ~14 s) and its latency
GREETING_MAX_S = 6.0  # answered → end of the greeting's audio on the wire
SILENCE_AFTER_GREETING_MS = 400
STAGGER_S = 3.0  # between one call's dialling and the next


@dataclass(frozen=True)
class Scenario:
    name: str
    number: str  # the caller's number: not a patient of the appliance's (fresh) store
    turns: tuple[str, ...]
    severity: str  # the least severity the pack demands


SCENARIOS = (
    Scenario("anaphylaxis", "5550107101", ("Hi, I had microneedling this afternoon.",
                                           "My face is really swollen, I'm getting hives on my neck and my throat "
                                           "feels tight."), "emergency"),
    Scenario("laser-blisters", "5550107102", ("Hello, I had laser hair removal on my legs yesterday.",
                                              "Some of the spots turned into big blisters and the skin is coming off."),
             "urgent"),
    Scenario("filler-vision", "5550107103", ("Hi, I was in yesterday for under-eye filler.",
                                             "I can't see properly out of my left eye since this morning, everything "
                                             "is blurry."), "emergency"),
)
EARLY = Scenario("talks-over-greeting", "5550107104", ("I'd like to book Botox.",), "none")
EARLY_START_S = 1.5


@dataclass
class Call:
    scenario: Scenario
    recording: Path
    heard: str = ""
    greeting_s: float | None = None
    outcome: str | None = None
    turns: list[tuple[str, str, str | None]] = field(default_factory=list)  # (speaker, text, provenance)
    escalations: list[tuple[str, str, str]] = field(default_factory=list)  # (severity, category, detail)


def _pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def caller_audio(folder: Path, s: Scenario, lead_s: float) -> Path:
    """Silence during the greeting, each turn (Piper through G.711) then silence while the appliance answers."""
    parts = [np.zeros(int(lead_s * 8000), "<i2")]
    for i, text in enumerate(s.turns):
        parts.append(_pcm(telephone_speech(text, folder / f"{s.name}-{i}.wav", "piper")))
        gap = TAIL_S if i == len(s.turns) - 1 else REPLY_GAP_S
        parts.append(np.zeros(int(gap * 8000), "<i2"))
    out = folder / f"{s.name}.wav"
    write_wav(out, np.concatenate(parts), 8000)
    return out


def greeting_end_s(pcm: np.ndarray, silence_ms: int = SILENCE_AFTER_GREETING_MS) -> float | None:
    """End of the first speech in `pcm` that is followed by `silence_ms` of silence (20 ms packets),
    in seconds from the start of the recording (the first RTP packet); None if speech never stops."""
    frames = [pcm[i:i + FRAME] for i in range(0, pcm.size - FRAME + 1, FRAME)]
    need = silence_ms // 20
    spoke, last, quiet = False, 0, 0
    for i, f in enumerate(frames):
        if is_speech(f):
            spoke, last, quiet = True, i, 0
        elif spoke:
            quiet += 1
            if quiet >= need:
                return (last + 1) * FRAME / 8000
    return None


def speech_chunks(pcm: np.ndarray, gap_ms: int = 500) -> list[np.ndarray]:
    """The recording cut at pauses of `gap_ms` or more: one chunk per line the appliance spoke."""
    voiced = [is_speech(pcm[i:i + FRAME]) for i in range(0, pcm.size - FRAME + 1, FRAME)]
    chunks, start, quiet = [], None, 0
    for i, v in enumerate([*voiced, False]):
        if v:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet >= gap_ms // 20 or i == len(voiced):
                end = i - quiet + 1
                chunks.append(pcm[max(0, (start - 10) * FRAME):(end + 10) * FRAME])
                start, quiet = None, 0
    return chunks


def transcribe_lines(recordings: list[Path]) -> list[str]:
    """What the caller heard, line by line (Whisper tiny on a whole minute drops lines; on one line it does not)."""
    from faster_whisper import WhisperModel

    from appliance.config import Settings
    from appliance.models.resolver import resolve_all
    from appliance.voice.audio import pcm_to_float, resample

    model = WhisperModel(str(resolve_all(Settings(), ("asr",))["asr"].path), device="cpu", compute_type="int8")
    out = []
    for path in recordings:
        texts = []
        for chunk in speech_chunks(_pcm(path)):
            segments, _ = model.transcribe(resample(pcm_to_float(chunk.tobytes()), 8000, 16000), language="en",
                                           beam_size=1, initial_prompt="Harbor Light Aesthetics, Botox, filler, 911.")
            texts.append(" ".join(seg.text.strip() for seg in segments))
        out.append(" | ".join(texts))
    return out


async def dial(work: Path, kport: int, s: Scenario, source: Path) -> Path:
    """One baresip call to the appliance's extension through kamailio; the recording of what was heard."""
    with wave.open(str(source)) as w:
        seconds = int(w.getnframes() / 8000) + 2
    return await baresip_call(work, kport, source, seconds, number=s.number, home=work / f"baresip-{s.name}")


def _wait_finished(app: ApplianceProcess, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sum(1 for e in list(app.events) if e.get("event") == "call.finished") < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {n} call.finished events in {timeout}s:\n{''.join(app.raw[-40:])}")
        if app.proc.poll() is not None:
            raise AssertionError(f"the appliance exited:\n{''.join(app.raw[-40:])}")
        time.sleep(0.5)


def _stored(var: Path, calls: list[Call]) -> None:
    from appliance.records.db import connect
    from appliance.records.keys import read_key

    conn = connect(var / "appliance.db", read_key(var / "secrets" / "db.key"), create=False)
    try:
        for c in calls:
            row = conn.execute("SELECT id, outcome FROM calls WHERE direction = 'inbound' AND caller_number LIKE ? "
                               "ORDER BY id DESC", (f"%{c.scenario.number}",)).fetchone()
            assert row is not None, f"no call record from {c.scenario.number}"
            c.outcome = row[1]
            c.turns = [tuple(r) for r in conn.execute(
                "SELECT speaker, text, provenance FROM turns WHERE call_id = ? ORDER BY idx", (row[0],))]
            c.escalations = [tuple(r) for r in conn.execute(
                "SELECT severity, category, detail FROM escalations WHERE call_id = ? ORDER BY id", (row[0],))]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Call]:
    return asyncio.run(_four_calls(tmp_path_factory.mktemp("emergencies-by-phone")))


async def _four_calls(work: Path) -> dict[str, Call]:
    sources = {s.name: await asyncio.to_thread(caller_audio, work, s, GREETING_LEAD_S) for s in SCENARIOS}
    sources[EARLY.name] = await asyncio.to_thread(caller_audio, work, EARLY, EARLY_START_S)
    out: dict[str, Call] = {}
    async with kamailio(work) as kport:
        app = ApplianceProcess(appliance_config(work, kport))
        try:
            for attempt in range(3):  # the demo pack mid-edit by someone: wait and retry
                try:
                    await asyncio.to_thread(app.wait_event, "appliance.ready", 240)
                    break
                except AssertionError as e:
                    if "pack-changed" not in str(e) or attempt == 2:
                        raise
                    await asyncio.sleep(60)
                    app = ApplianceProcess(appliance_config(work, kport))
            await asyncio.to_thread(app.wait_event, "sip.registered", 30)
            async def one(s: Scenario, delay_s: float) -> None:
                await asyncio.sleep(delay_s)
                out[s.name] = Call(s, await dial(work, kport, s, sources[s.name]))

            # All four lines at once, a few seconds apart, as calls reach a clinic: the appliance
            # takes several calls, and each caller's audio is timed from its own answer.
            order = (*SCENARIOS, EARLY)
            await asyncio.gather(*(one(s, STAGGER_S * i) for i, s in enumerate(order)))
            out = {s.name: out[s.name] for s in order}
            await asyncio.to_thread(_wait_finished, app, len(out), 60)
            code, _ = app.stop()
        finally:
            app.kill()
    assert code == 0, "".join(app.raw[-40:])
    await asyncio.to_thread(_stored, work / "var", list(out.values()))
    heard = await asyncio.to_thread(transcribe_lines, [c.recording for c in out.values()])
    for c, text in zip(out.values(), heard, strict=True):
        c.heard = text
        c.greeting_s = greeting_end_s(_pcm(c.recording))
    for c in out.values():
        print(f"\n{c.scenario.name}: greeting ends {c.greeting_s} s on the wire; escalations {c.escalations}; "
              f"outcome {c.outcome}\n  turns: {c.turns}\n  heard: {c.heard}")
    return out


SEVERITY = {"routine": 1, "urgent": 2, "emergency": 3}


def spoken_text(key: str) -> str:
    """The demo pack's line `key`, its placeholders left out."""
    pack = load_pack(Path(__file__).resolve().parents[2] / "appliance" / "clinic" / "packs" / "demo")
    text = pack.dialogue.text(key)
    assert text, key
    return re.sub(r"\{[a-z_]+\}", "", text)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_issue_14_emergency_by_phone_is_escalated_and_the_caller_hears_the_line(
        calls: dict[str, Call], scenario: Scenario) -> None:
    c = calls[scenario.name]
    assert [t[0] for t in c.turns].count("caller") >= len(scenario.turns), c.turns  # both turns heard
    worst = max((SEVERITY[e[0]] for e in c.escalations), default=0)
    assert worst >= SEVERITY[scenario.severity], c.escalations
    assert c.outcome == "escalated", c.outcome
    line = "dialogue.escalate_emergency" if scenario.severity == "emergency" else "dialogue.escalate_urgent"
    assert any(p == PACK + line for _, _, p in c.turns), c.turns  # the approved line was spoken ...
    # ... and reached the caller: most of its words, in order, in what Whisper heard on baresip's recording
    # (Whisper tiny on 8 kHz audio has heard "transferring you to them" as "transferring each of them")
    assert line_heard(approved := spoken_text(line.split(".")[-1]), c.heard) >= HEARD_SHARE, (c.heard, approved)
    assert not any(p and p.startswith(PACK + "dialogue.offer_booking") for _, _, p in c.turns), c.turns


def test_the_caller_is_invited_to_speak_within_6_s_measured_on_the_wire(calls: dict[str, Call]) -> None:
    """Answered (the recording starts at the first RTP packet) → the greeting's audio ends (the first
    400 ms of silence after speech in what the caller received). Audio duration, not wall clock."""
    for s in SCENARIOS:
        c = calls[s.name]
        assert c.greeting_s is not None, s.name
        assert c.greeting_s <= GREETING_MAX_S, (s.name, c.greeting_s)
        # the greeting, with its open question, is in that audio (most of its words, in order)
        assert line_heard(greeting := spoken_text("greeting"), c.heard) >= HEARD_SHARE, (c.heard, greeting)


def test_a_caller_talking_during_the_greeting_is_heard_and_understood(calls: dict[str, Call]) -> None:
    c = calls[EARLY.name]
    said = [t[1] for t in c.turns if t[0] == "caller"]
    assert any("botox" in t.lower() for t in said), c.turns  # the transcript stored in the turns table
    replies = [p for s, _, p in c.turns if s == "agent" and p and p != PACK + "dialogue.greeting"]
    # a reply that shows Botox was taken: the intake for it, the areas question, or its price
    assert any(p.removeprefix(PACK) in ("dialogue.screen_intro", "q-areas", "botox") for p in replies), c.turns
    assert c.escalations == [], c.escalations
