"""A whole call through the voice session with the real models and telephone-band speech.

Caller speech is Piper or espeak-ng audio taken through 8 kHz G.711 µ-law; the file media
plays it in real time and records every packet the appliance sent, which is what the
assertions look at.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest
from structlog.testing import capture_logs

from appliance.calls import TransferResult
from appliance.config import VoiceSettings
from appliance.conversation import Action, Reply, Say
from appliance.live.briefs import transfer_brief
from appliance.voice.asr import WhisperTranscriber
from appliance.voice.audio import rms_dbfs, split_sentences
from appliance.voice.engines import Engines
from appliance.voice.filemedia import FileCallMedia
from appliance.voice.session import VoiceSession
from tests.foundation.heard import words_heard

from .helpers import ScriptedConversation, noise, piper, piper_fixed, silence

pytestmark = [pytest.mark.models, pytest.mark.slow]

LONG = ("Our clinic offers many treatments. We have wrinkle relaxers such as Botox and Dysport. "
        "We also offer dermal fillers for the lips and cheeks. Our injectors are all registered nurses "
        "with many years of experience. A consultation takes about thirty minutes and is free of charge.")


@dataclass
class HandingOverMedia(FileCallMedia):
    """Transfers as the SIP edge makes them (`appliance.telephony.transfer`): one that succeeds
    hands the caller's leg over (the call ends, reason "transfer") before it returns, then
    releases the consultation leg, whose BYE is answered within `consult_bye_s`. The target's
    phone rings for `ring_s` first."""

    consult_bye_s: float = 1.0
    ring_s: float = 0.0
    briefs: list[bytes | None] = field(default_factory=list)

    async def transfer(self, target: str, *, attended: bool = False, brief_pcm: bytes | None = None) -> TransferResult:
        self.briefs.append(brief_pcm)
        await asyncio.sleep(self.ring_s)
        result = await super().transfer(target, attended=attended, brief_pcm=brief_pcm)
        if result.ok:
            await asyncio.sleep(self.consult_bye_s)
        return TransferResult(result.ok, result.kind, target, "target 200" if result.ok else result.detail)


async def call(engines: Engines, caller: bytes, conv: ScriptedConversation, tail_s: float = 2.0,
               media_cls: type[FileCallMedia] = FileCallMedia, settings: VoiceSettings | None = None,
               **media_kw) -> tuple[FileCallMedia, VoiceSession]:
    media = media_cls(caller, tail_s=tail_s, **media_kw)
    session = VoiceSession(media, conv, engines, settings or VoiceSettings(), brief=transfer_brief)
    try:
        await asyncio.wait_for(session.run(), timeout=120)
    finally:
        await media.close()
    return media, session


def voiced(frames) -> list:
    return [f for f in frames if rms_dbfs(f.pcm) > -45]


def said(engines: Engines, frames, min_pause_ms: int = 160) -> str:
    """What a caller heard, transcribed piece by piece between pauses of `min_pause_ms`.

    Whisper tiny given several sentences in one pass (no timestamps) sometimes stops after the
    first one although the audio holds them all; Piper leaves 180-260 ms between sentences and
    at most 120 ms inside one, so each piece is about a sentence and every word is heard."""
    asr = engines.asr
    assert isinstance(asr, WhisperTranscriber)
    pieces: list[bytes] = []
    piece, quiet = bytearray(), 0
    for f in frames:
        if rms_dbfs(f.pcm) <= -45:
            quiet += 1
            if piece:
                piece.extend(f.pcm)
            continue
        if piece and quiet * 20 >= min_pause_ms:
            pieces.append(bytes(piece))
            piece = bytearray()
        quiet = 0
        piece.extend(f.pcm)
    if piece:
        pieces.append(bytes(piece))
    return " ".join(asr.transcribe(p) for p in pieces).strip().lower()


async def test_spoken_question_gets_spoken_answer(engines: Engines) -> None:
    question = piper(engines, "Do you offer Botox for frown lines?")
    conv = ScriptedConversation(answers={"botox": Reply(says=(
        Say("Yes, we offer Botox. Would you like to book a consultation?"),))})
    start_q = 3.5
    # The reply is about 4 s of speech after a voice-to-voice of about 1 s: 8 s of tail leaves it
    # room to finish on a loaded machine (5 s cut its last sentence off when synthesis lagged).
    media, session = await call(engines, silence(start_q) + question, conv, tail_s=8.0)
    assert len(conv.heard) == 1 and "botox" in conv.heard[0].lower()
    answer = [f for f in media.sent if f.offset_ms > (start_q * 1000 + len(question) / 16)]
    text = said(engines, answer)
    # Whisper tiny on Piper's (non-deterministic) audio sometimes hears "Botox" as "box":
    # require most of the reply's words, and its last, distinctive one.
    expected = set(re.findall(r"[a-z]+", "yes we offer botox would you like to book a consultation"))
    assert len(expected & set(re.findall(r"[a-z]+", text))) >= 0.75 * len(expected), text
    assert "consultation" in text
    greeting = [f for f in media.sent if f.offset_ms < start_q * 1000]
    assert "calling" in said(engines, greeting)
    [turn] = session.metrics.turns
    m = turn.as_dict()
    assert m["voice_to_voice_ms"] > 0 and m["asr_ms"] > 0 and m["tts_first_audio_ms"] >= 0
    assert conv.end_reason == "remote-bye"


async def test_caller_talking_over_the_agent_stops_it(engines: Engines) -> None:
    q = piper(engines, "Tell me about your treatments.")
    interrupt = piper(engines, "Sorry, I only want to know your opening hours on Saturday.")
    at = 3.5 + len(q) / 16000 + 4.0  # the long answer has been playing for about three seconds
    caller = silence(3.5) + q + silence(4.0) + interrupt
    conv = ScriptedConversation(answers={
        "treatment": Reply(says=(Say(LONG),)),
        "hours": Reply(says=(Say("We are open on Saturday from nine to one."),)),
    })
    media, session = await call(engines, caller, conv, tail_s=5.0)
    long_frames = [f for f in voiced(media.sent) if 3500 + len(q) / 16 < f.offset_ms < at * 1000 + 3000]
    # the whole answer is ~17 s of audio; it was stopped after a few seconds
    assert 0.5 < len(long_frames) * 0.02 < 8.0
    # The hold silences the agent within a few hundred ms; the cut comes with the transcript, or
    # after 1 s of one run of speech ("Sorry, | I only want ...": the comma's pause starts a new run).
    stop_deadline = at * 1000 + 600 + 1000 + 1000  # "Sorry," + min speech + generous VAD/scheduling slack
    late = [f for f in long_frames if f.offset_ms > stop_deadline]
    assert not late, f"agent audio continued {len(late) * 20} ms after the barge-in"
    assert conv.cut and 0.0 < conv.cut[0] < 0.7
    # Held, then cut while the caller talks on: not one packet of the cut reply in between or
    # just after (a piece that waited for room in the media when the cut came is dropped too).
    held_at, cut_at = media.pauses[0][0], media.clears[0][0]
    assert not [f for f in voiced(media.sent) if held_at + 0.04 < f.t < cut_at + 0.5]
    assert any("saturday" in h.lower() for h in conv.heard)
    assert "saturday" in said(engines, [f for f in media.sent if f.offset_ms > stop_deadline])
    turn = session.metrics.turns[-1]
    assert turn.barge_in_detected is not None and turn.barge_in_stopped is not None


async def test_backchannel_and_protected_line_are_not_cut(engines: Engines) -> None:
    q = piper(engines, "I have a question.")
    protected = Say("If this is an emergency, hang up and dial nine one one. Otherwise please stay on the line "
                    "and tell me how I can help.", interruptible=False)
    conv = ScriptedConversation(answers={"question": Reply(says=(protected,))})
    caller = (silence(3.5) + q + silence(2.5) + piper(engines, "Okay.") + silence(1.5)
              + piper(engines, "No wait, I want to book an appointment for tomorrow."))
    media, _ = await call(engines, caller, conv, tail_s=6.0)
    assert conv.cut == []  # nothing was cut
    heard = said(engines, [f for f in media.sent if f.offset_ms > 3500 + len(q) / 16])
    assert "emergency" in heard and "help" in heard
    assert not any(h.strip(" .!").lower() == "okay" for h in conv.heard)  # the back-channel made no turn


@pytest.mark.parametrize("kind", ["silence", "noise"])
async def test_silence_and_noise_make_no_turn(engines: Engines, kind: str) -> None:
    caller = silence(6.0) if kind == "silence" else noise(6.0, dbfs=-30)
    conv = ScriptedConversation()
    media, session = await call(engines, caller, conv, tail_s=0.5)
    assert conv.heard == [] and session.metrics.turns == []
    greeting_ms = len(voiced(media.sent)) * 20
    assert 1000 < greeting_ms < 4000  # the greeting only


async def test_dtmf_hangup_and_no_leaked_threads(engines: Engines) -> None:
    before = {t.ident for t in threading.enumerate()}
    conv = ScriptedConversation()
    conv.caller_pressed = _press(conv)  # type: ignore[method-assign]
    media, _ = await call(engines, silence(4.0), conv, tail_s=3.0, dtmf=((3.0, "2"),))
    assert conv.digits == ["2"]
    assert media.transfers == [("201", False)]
    assert conv.end_reason == "transfer"
    await asyncio.sleep(0.1)
    left = [t for t in threading.enumerate() if t.ident not in before]
    assert not [t for t in left if t.name.startswith("voice-")]
    assert all(t.name.startswith("asyncio_") for t in left), [t.name for t in left]


async def test_failed_transfer_is_told_to_the_caller_and_the_call_stays_up(engines: Engines) -> None:
    conv = ScriptedConversation()
    conv.caller_pressed = _press(conv)  # type: ignore[method-assign]
    failures: list[tuple[str, str]] = []

    def transfer_failed(target: str, detail: str) -> Reply:
        failures.append((target, detail))
        return Reply(says=(Say("I could not reach the nurse. She will call you back within fifteen minutes.",
                               interruptible=False),))

    conv.transfer_failed = transfer_failed  # type: ignore[attr-defined]
    tail_s = 9.0
    media, session = await call(engines, silence(4.0), conv, tail_s=tail_s, dtmf=((3.0, "2"),),
                                transfer_fails="480 Temporarily Unavailable")
    assert media.transfers == [("201", False)]
    assert failures == [("201", "480 Temporarily Unavailable")]
    assert transfer_events(session) == [{"event": "voice.transfer", "ok": False, "kind": "blind", "target": "201",
                                         "detail": "480 Temporarily Unavailable"}]
    assert media.hangup_reason != "transfer"  # the caller was not dropped
    after = [f for f in media.sent if f.offset_ms > 3000]
    # The whole line went out, then the line was quiet for a second before the caller hung up.
    assert after and after[-1].offset_ms < (4.0 + tail_s - 1.0) * 1000, after[-1:]
    heard = said(engines, after)
    # Whisper tiny hears "could not" as "cannot" now and then: the words that carry the message are checked.
    assert "reach the nurse" in heard and "call you back" in heard, heard


async def test_a_transfer_that_hands_the_call_over_is_logged_before_the_session_ends(engines: Engines) -> None:
    """The hand-over ends the call while the transfer still releases the consultation leg: the
    pipeline stops at the hang-up, and the transfer is still logged, as a success."""
    conv = ScriptedConversation()
    conv.caller_pressed = _press(conv, attended=True)  # type: ignore[method-assign]
    with capture_logs() as logs:
        media, session = await call(engines, silence(4.0), conv, tail_s=6.0, dtmf=((3.0, "2"),),
                                    media_cls=HandingOverMedia)
    assert isinstance(media, HandingOverMedia)
    assert media.transfers == [("201", True)] and media.briefs[0]  # the clinician's brief was made
    assert conv.end_reason == "transfer"
    assert transfer_events(session) == [{"event": "voice.transfer", "ok": True, "kind": "attended", "target": "201",
                                         "detail": "target 200"}]
    names = [e["event"] for e in logs]
    assert names.index("voice.transfer") < names.index("voice.call_ended"), names
    [line] = [e for e in logs if e["event"] == "voice.transfer"]
    assert line["call_id"] == "file-call" and line["ok"] is True


async def test_a_caller_who_hangs_up_while_the_target_rings_ends_the_transfer(engines: Engines) -> None:
    conv = ScriptedConversation()
    conv.caller_pressed = _press(conv, attended=True)  # type: ignore[method-assign]
    media, session = await call(engines, silence(4.0), conv, tail_s=1.0, dtmf=((3.0, "2"),),
                                media_cls=HandingOverMedia, ring_s=60.0)
    assert len(media.briefs) == 1 and media.transfers == []  # still ringing when the caller left
    assert conv.end_reason == "remote-bye"
    assert transfer_events(session) == [{"event": "voice.transfer", "ok": False, "kind": "attended", "target": "201",
                                         "detail": "call ended (remote-bye)"}]


def transfer_events(session: VoiceSession) -> list[dict]:
    return [e for e in session.metrics.events if e["event"] == "voice.transfer"]


def _press(conv: ScriptedConversation, attended: bool = False):
    async def pressed(digit: str) -> Reply:
        conv.digits.append(digit)
        return Reply(says=(Say("Transferring you now."),),
                     actions=(Action("transfer", target="201", attended=attended),))
    return pressed


async def test_llm_reply_reports_first_token(engines: Engines) -> None:
    lm = engines.llm

    class LlmConversation(ScriptedConversation):
        async def caller_said(self, text: str) -> Reply:
            self.heard.append(text)
            words = [p async for p in lm.stream("You are a polite clinic receptionist. One short sentence.",
                                                 text, max_tokens=24)]
            return Reply(says=(Say("".join(words).strip() or "Sorry?"),), end_call=True)

    conv = LlmConversation()
    media, session = await call(engines, silence(3.5) + piper(engines, "Hello, who am I speaking to?"), conv,
                                tail_s=12.0)
    [turn] = session.metrics.turns
    assert turn.llm_first_token is not None and turn.transcript_final is not None
    assert turn.llm_first_token >= turn.transcript_final
    assert media.hangup_reason == "local"


async def test_words_before_a_short_pause_stay_in_the_turn(engines: Engines) -> None:
    """ "Everything is fine, <pause> no concerns." is one turn, transcribed from its first word."""
    conv = ScriptedConversation()
    caller = silence(3.0) + piper(engines, "Everything is fine.") + silence(0.35) + piper(engines, "No concerns.")
    await call(engines, caller, conv, tail_s=4.0)
    assert len(conv.heard) == 1, conv.heard
    assert "everything" in conv.heard[0].lower() and "concern" in conv.heard[0].lower(), conv.heard


async def test_a_backchannel_over_the_agent_holds_it_at_once_then_resumes_without_losing_words(engines: Engines) -> None:
    q = piper(engines, "Tell me about your treatments.")
    caller = silence(3.5) + q + silence(4.0) + piper(engines, "Yeah.") + silence(22.0)
    conv = ScriptedConversation(answers={"treatment": Reply(says=(Say(LONG),))})
    media, session = await call(engines, caller, conv, tail_s=4.0)
    assert conv.cut == [] and media.clears == []  # nothing was cut or dropped
    assert [p for _, p in media.pauses][:2] == [True, False], media.pauses  # held, then resumed
    held_s = media.pauses[1][0] - media.pauses[0][0]
    assert 0.2 < held_s < 4.0, held_s
    released = [e for e in session.metrics.events if e.get("event") == "voice.hold_released"]
    assert released and released[0]["why"] == "backchannel", released
    # The whole long answer was still spoken, nothing skipped: as much voiced audio as the answer has.
    answer = [f for f in voiced(media.sent) if f.offset_ms > 3500 + len(q) / 16]
    whole = b"".join(engines.tts.synthesize(p) for p in split_sentences(LONG))
    expected = sum(1 for i in range(0, len(whole) - 319, 320) if rms_dbfs(whole[i:i + 320]) > -45)
    assert len(answer) >= 0.95 * expected, (len(answer), expected)
    # The last sentence, after the hold, by its words heard in order (Whisper tiny sometimes loops on a
    # clip, "very, very, very, ...": a second clip that ends at the same place, a little longer, is heard too).
    last = split_sentences(LONG)[-1]
    heard = [said(engines, answer[-n:]) for n in (150, 200)]
    assert max(words_heard(last, h) for h in heard) >= 5, (last, heard)


async def test_a_click_too_short_to_be_a_turn_releases_the_hold_at_once(engines: Engines) -> None:
    """90 ms of a syllable over the agent holds it (a 60 ms hold here, so that the VAD's run of
    the click is surely past it) but is too short to be a turn (150 ms of voice): the agent goes
    on as soon as the VAD has closed the run, not after the 2.5 s a hold with no turn waits.
    The echo canceller is off: this media has no echo, and what the canceller makes of a click
    depends on which of the agent's words it lands on, which moved the click's run across both
    bounds from one run to the next."""
    q = piper_fixed(engines, "Tell me about your treatments.")
    yeah = np.frombuffer(piper_fixed(engines, "Yeah."), "<i2")
    start = int(np.nonzero(np.abs(yeah) > 1000)[0][0])
    click = yeah[start:start + 90 * 8].tobytes()
    caller = silence(3.5) + q + silence(4.0) + click + silence(22.0)
    # The premise, on the same VAD: the click is a voiced run. Piper samples its prosody, and
    # Silero's state carries over the 4 s before the click, so a random rendering of either line
    # moved the click's run across both bounds; both are synthesised without that noise.
    at = (len(caller) - 22 * 16000 - len(click)) / 16000
    probs = [p for t, p in engines.vad.stream().feed(caller) if at - 0.05 <= t <= at + 0.15]
    assert sum(p >= VoiceSettings().vad_threshold for p in probs) >= 2, probs
    conv = ScriptedConversation(answers={"treatment": Reply(says=(Say(LONG),))})
    media, session = await call(engines, caller, conv, tail_s=2.0,
                                settings=VoiceSettings(barge_in_hold_ms=60, echo_cancel=False))
    released = [e for e in session.metrics.events if e.get("event") == "voice.hold_released"]
    assert [e["why"] for e in released] == ["noise"], session.metrics.events
    assert released[0]["held_ms"] < 1500, released
    assert conv.cut == [] and media.clears == [] and len(conv.heard) == 1  # nothing cut, no caller turn


async def test_talking_over_the_agent_holds_its_audio_within_a_few_hundred_ms(engines: Engines) -> None:
    q = piper(engines, "Tell me about your treatments.")
    interrupt = piper(engines, "Sorry, I only want to know your opening hours on Saturday.")
    caller = silence(3.5) + q + silence(4.0) + interrupt
    conv = ScriptedConversation(answers={
        "treatment": Reply(says=(Say(LONG),)),
        "hours": Reply(says=(Say("We are open on Saturday from nine to one."),)),
    })
    media, session = await call(engines, caller, conv, tail_s=5.0)
    assert media.pauses and media.pauses[0][1] is True
    turn = next(t for t in session.metrics.turns if t.barge_in_held is not None)
    hold_ms = (turn.barge_in_held - turn.speech_start) * 1000
    assert 0 < hold_ms < 700, hold_ms  # 180 ms of speech + the VAD's windows (not a timing claim: a bound)
    assert conv.cut and media.clears  # then it was interrupted, and the caller's question answered
    assert any("saturday" in h.lower() for h in conv.heard)
