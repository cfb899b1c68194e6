"""Turn-taking decisions on a virtual clock: no audio, no models, no sleeping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.voice.policy import (
    BackchannelFilter,
    BargeInPolicy,
    Endpointer,
    Segment,
    VadGate,
    heard_fraction,
    segment_at,
)

W = 0.032  # one VAD window


def drive(endpointer: Endpointer, gate: VadGate, pattern: list[tuple[float, float]], t: float = 0.0):
    """Feed (seconds, probability) runs; return [(time, decision kind, speech_end)]."""
    out = []
    for seconds, prob in pattern:
        for _ in range(round(seconds / W)):
            gate.update(t, W, prob)
            if gate.speaking:
                endpointer.speech(t, W)
            else:
                d = endpointer.silence(t, W, gate.last_voiced_end or t)
                if d:
                    out.append((round(t + W, 3), d.kind, round(d.speech_end, 3)))
            t += W
    return out


def test_gate_hysteresis_and_debounce() -> None:
    g = VadGate(on=0.5, off=0.35, start_s=0.064, stop_s=0.064)
    assert g.update(0.0, W, 0.9) is None  # one window is not yet speech
    assert g.update(W, W, 0.9) == "start"
    assert g.run_start == 0.0
    assert g.update(2 * W, W, 0.4) is None  # between off and on: still speech
    assert g.update(3 * W, W, 0.1) is None
    assert g.update(4 * W, W, 0.1) == "stop"
    assert g.last_voiced_end == pytest.approx(3 * W)
    # a lone spike does not start speech
    assert g.update(10 * W, W, 0.9) is None
    assert g.update(11 * W, W, 0.1) is None
    assert not g.speaking


def test_silence_mode_ends_turn_after_window_measured_from_speech_end() -> None:
    e, g = Endpointer(mode="silence", silence_s=0.5, early_asr_s=0.2), VadGate()
    events = drive(e, g, [(0.5, 0.0), (1.5, 0.9), (1.0, 0.0)])
    kinds = [k for _, k, _ in events]
    assert kinds == ["early-asr", "end-of-turn"]
    speech_end = events[-1][2]
    assert speech_end == pytest.approx(2.0, abs=W)
    assert events[-1][0] - speech_end == pytest.approx(0.5, abs=W + 1e-9)
    assert events[0][0] - speech_end == pytest.approx(0.2, abs=W + 1e-9)


def test_a_pause_shorter_than_the_window_does_not_end_the_turn() -> None:
    e, g = Endpointer(mode="silence", silence_s=0.5), VadGate()
    events = drive(e, g, [(1.0, 0.9), (0.35, 0.0), (1.0, 0.9), (0.8, 0.0)])
    assert [k for _, k, _ in events] == ["early-asr", "early-asr", "end-of-turn"]
    assert events[-1][2] == pytest.approx(2.35, abs=W)


def test_clicks_and_noise_make_no_turn() -> None:
    e, g = Endpointer(mode="silence", min_speech_s=0.15), VadGate()
    assert drive(e, g, [(1.0, 0.0), (0.064, 0.9), (2.0, 0.0), (0.032, 0.95), (2.0, 0.1)]) == []
    assert not e.in_turn
    assert drive(Endpointer(), VadGate(), [(5.0, 0.3)]) == []  # steady sub-threshold noise


def test_smart_turn_asks_model_once_per_pause_and_honours_verdict() -> None:
    e, g = Endpointer(mode="smart-turn", turn_check_s=0.2, max_silence_s=1.6, early_asr_s=0.2), VadGate()
    events = drive(e, g, [(1.0, 0.9), (0.3, 0.0)])
    assert [k for _, k, _ in events] == ["ask-turn-model", "early-asr"]
    speech_end = events[0][2]
    assert e.turn_model_said(False, speech_end) is None  # incomplete: keep listening
    assert e.in_turn
    d = e.turn_model_said(True, speech_end)
    assert d is not None and d.kind == "end-of-turn" and not e.in_turn


def test_smart_turn_stale_verdict_ignored_and_max_silence_fallback() -> None:
    e, g = Endpointer(mode="smart-turn", max_silence_s=1.0), VadGate()
    events = drive(e, g, [(1.0, 0.9), (0.3, 0.0)])
    old_end = events[0][2]
    drive(e, g, [(0.5, 0.9)], t=1.3)  # caller resumed
    assert e.turn_model_said(True, old_end) is None
    events = drive(e, g, [(1.2, 0.0)], t=1.8)
    assert events[-1][1] == "end-of-turn"  # the model never said complete: the fallback ends it


@pytest.mark.parametrize("text", ["Mm-hm.", "okay", "Yeah.", "uh huh", "Okay, okay.", "Right.", "Cure.", "", "  ...  "])
def test_backchannels(text: str) -> None:
    assert BackchannelFilter().is_backchannel(text)


@pytest.mark.parametrize("text", ["Stop.", "Wait, I have a question", "Okay but what about Botox?",
                                  "yes I want to book", "No.", "Actually cancel that"])
def test_not_backchannels(text: str) -> None:
    assert not BackchannelFilter().is_backchannel(text)


def test_barge_in_policy() -> None:
    p = BargeInPolicy(min_speech_s=0.6)
    assert not p.on_speech(10.0, 10.3, agent_talking=True, interruptible=True)  # too short so far
    assert p.on_speech(10.0, 10.6, agent_talking=True, interruptible=True)
    assert not p.on_speech(10.0, 12.0, agent_talking=True, interruptible=False)  # protected line
    assert not p.on_speech(10.0, 12.0, agent_talking=False, interruptible=True)
    assert p.on_transcript("mm-hm", agent_talking=True, interruptible=True) == "ignore"
    assert p.on_transcript("No, stop", agent_talking=True, interruptible=True) == "interrupt"
    assert p.on_transcript("No, stop", agent_talking=True, interruptible=False) == "turn"
    assert p.on_transcript("okay", agent_talking=False, interruptible=True) == "turn"
    assert p.on_transcript("", agent_talking=False, interruptible=True) == "ignore"


def test_heard_fraction_by_text_and_audio() -> None:
    segs = [Segment(0, 1000, 20), Segment(1000, 3000, 40)]
    assert heard_fraction(segs, 0, 0) == 0.0
    assert heard_fraction(segs, 0, 1000) == pytest.approx(20 / 60)
    assert heard_fraction(segs, 0, 2000) == pytest.approx(40 / 60)
    assert heard_fraction(segs, 0, 5000) == 1.0
    assert heard_fraction(segs, 60, 3000) == pytest.approx(0.5)  # half the text never synthesised
    assert heard_fraction([], 0, 0) == 1.0
    assert segment_at(segs, 1500) is segs[1] and segment_at(segs, 3000) is None


@given(st.lists(st.tuples(st.floats(0.032, 2.0), st.floats(0.0, 1.0)), max_size=30))
def test_endpointer_invariants(pattern: list[tuple[float, float]]) -> None:
    """Whatever the input: end-of-turn only after speech, never before its silence window."""
    e, g = Endpointer(mode="silence", silence_s=0.5), VadGate()
    for t_end, kind, speech_end in drive(e, g, pattern):
        if kind == "end-of-turn":
            assert t_end - speech_end >= 0.5 - 1e-6


def test_a_transcript_of_digits_is_a_turn() -> None:
    policy = BargeInPolicy()
    assert policy.on_transcript("1980", agent_talking=False, interruptible=True) == "turn"
    assert policy.on_transcript("911", agent_talking=True, interruptible=True) == "interrupt"


# ---------------------------------------------------------------- holding the agent's audio


def test_caller_speech_holds_interruptible_audio_after_the_hold_time_only() -> None:
    p = BargeInPolicy(pause_s=0.18, min_speech_s=0.6)
    assert not p.on_speech_hold(10.0, 10.15, agent_talking=True, interruptible=True)
    assert p.on_speech_hold(10.0, 10.18, agent_talking=True, interruptible=True)
    assert not p.on_speech_hold(10.0, 10.5, agent_talking=True, interruptible=False)  # protected: never held
    assert not p.on_speech_hold(10.0, 10.5, agent_talking=False, interruptible=True)
    assert not BargeInPolicy(pause_s=0.0).on_speech_hold(10.0, 12.0, agent_talking=True, interruptible=True)
    # the hold comes well before the interruption itself
    assert not p.on_speech(10.0, 10.18, agent_talking=True, interruptible=True)


def test_a_hold_nothing_decides_ends_after_the_caller_is_quiet_long_enough() -> None:
    p = BargeInPolicy(max_pause_s=2.5)
    assert not p.hold_expired(held_since=5.0, quiet_since=None, now=20.0)  # still speaking
    assert not p.hold_expired(held_since=5.0, quiet_since=5.4, now=7.8)
    assert p.hold_expired(held_since=5.0, quiet_since=5.4, now=7.9)
    assert not p.hold_expired(held_since=6.0, quiet_since=5.4, now=8.4)  # counted from the later of the two


def test_a_backchannel_transcript_resumes_and_other_speech_interrupts() -> None:
    p = BargeInPolicy()
    assert p.on_transcript("Mm-hmm.", agent_talking=True, interruptible=True) == "ignore"
    assert p.on_transcript("okay yeah", agent_talking=True, interruptible=True) == "ignore"
    assert p.on_transcript("Wait, what time on Saturday?", agent_talking=True, interruptible=True) == "interrupt"
