"""One benchmark call: dial the target, speak a script turn by turn, time everything on the wire.

Per turn the caller waits until the far end has been quiet for `quiet_s` (its reply is over),
speaks the next utterance, and takes

    voice-to-voice = arrival of the first reply packet carrying speech
                     - send time of the caller's last packet carrying speech

A barge-in step starts `barge_after_s` after the reply began, once the agent is inside a phrase
(at most `barge_wait_s` later); its reaction time is from the
send time of the caller's first speech packet to the arrival of the agent's last speech packet
before it fell silent. A turn without a reply within `reply_timeout_s` raises `NoReply`: the
benchmark stops there and says so, it never records a zero.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.scripts import Clip, Script
from benchmarks.secure_caller import SecureSipCaller
from benchmarks.sip_caller import CallFailed, SipCaller
from benchmarks.speech import Arrival, burst_end, onset_after, quiet_since, talking_at, talking_steadily

POLL_S = 0.01


class NoReply(CallFailed):
    pass


@dataclass
class Timing:
    reply_timeout_s: float = 30.0  # caller stopped talking -> first reply speech
    quiet_s: float = 2.0  # the far end's silence that means "your turn"
    listen_timeout_s: float = 90.0  # the longest the caller listens to one reply
    barge_gap_s: float = 0.6  # silence after which the agent has stopped talking
    barge_wait_s: float = 1.5  # how long a barge-in waits for the agent to be inside a phrase
    settle_s: float = 1.5  # after answer, before a caller speaks to an agent that does not greet


@dataclass
class TurnResult:
    turn: int
    text: str
    v2v_ms: float | None
    talked_over: bool = False  # the agent was already talking when the caller finished
    no_reply: bool = False  # only recorded for a baseline (strict=False); the appliance raises NoReply
    barge_in_ms: float | None = None
    barge_valid: bool = False  # the agent was still talking when the caller barged in
    t_last_speech: float = 0.0
    t_reply: float | None = None
    appliance: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("t_")}
        if self.v2v_ms is not None:
            d["v2v_ms"] = round(self.v2v_ms, 1)
        return d


@dataclass
class CallResult:
    target: str
    script: str
    call_id: str
    setup_ms: float
    first_word_ms: float | None  # answer -> first speech (the greeting), if the agent greets
    turns: list[TurnResult]
    packets_in: int = 0
    security: dict[str, Any] | None = None  # over TLS + SRTP: the TLS version and SRTP packet counts


def _wait(cond: Callable[[], Any], timeout: float, caller: SipCaller) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        if caller.remote_bye.is_set():
            raise CallFailed("the far end hung up in the middle of the script")
        time.sleep(POLL_S)
    return None


def _speak(caller: SipCaller, clip: Clip) -> tuple[float, float]:
    """Send the clip; (send time of its first, of its last speech packet)."""
    handle = caller.rtp.play(clip.pcm)
    n = -(-clip.pcm.size // 160)
    sent = _wait(lambda: len(caller.rtp.sent_times(handle)) >= n and caller.rtp.sent_times(handle),
                 n * 0.02 + 10, caller)
    if not sent:
        raise CallFailed("the caller's RTP sender stalled")
    return sent[clip.first_speech], sent[clip.last_speech]


def run_call(target_name: str, port: int, script: Script, clips: dict[str, Clip], *, greets: bool,
             timing: Timing | None = None, strict: bool = True, on_answer: Callable[[str], None] | None = None,
             on_turn: Callable[[], None] | None = None, echo_db: float | None = None,
             number: str = "5550100001", to_user: str = "clinic", tls: ssl.SSLContext | None = None,
             ) -> CallResult:
    """`number`: the caller ID sent; `to_user`: the extension dialled (through a PBX at `port`);
    `tls`: call over SIP/TLS with SRTP, verifying the far end with this context (secure_caller)."""
    t = timing or Timing()
    caller: SipCaller
    if tls is not None:
        caller = SecureSipCaller(("127.0.0.1", port), tls, user=number, echo_db=echo_db, to_user=to_user)
    else:
        caller = SipCaller(("127.0.0.1", port), user=number, echo_db=echo_db, to_user=to_user)
    t_invite = time.monotonic()
    try:
        answered = caller.invite()
        if on_answer:
            on_answer(caller.call_id)  # e.g. wait until the baseline's pipeline runs
        arrivals: Callable[[], list[Arrival]] = caller.rtp.snapshot
        first_word = None
        if greets:
            onset = _wait(lambda: onset_after(arrivals(), answered), t.reply_timeout_s, caller)
            if onset is None:
                raise NoReply(f"{target_name}: no greeting within {t.reply_timeout_s:.0f} s of the answer")
            first_word = (onset - answered) * 1000
        else:
            time.sleep(t.settle_s)
        turns: list[TurnResult] = []
        reply_onset: float | None = None
        for i, step in enumerate(script.steps):
            clip = clips[step.text]
            if step.barge_in and reply_onset is None:
                if strict:
                    raise NoReply(f"{target_name}, script {script.name}: no reply to barge in on (turn {i})")
                turns.append(TurnResult(i, step.text, None, no_reply=True))
                continue
            if step.barge_in:
                time.sleep(max(0.0, reply_onset + step.barge_after_s - time.monotonic()))
                # Cut in as a person does, inside a phrase (bounded: then anyway): a question
                # that lands in the agent's pause between sentences is no interruption.
                _wait(lambda: talking_steadily(arrivals(), time.monotonic()), t.barge_wait_s, caller)
            elif not _wait(lambda: quiet_since(arrivals(), time.monotonic()) >= t.quiet_s, t.listen_timeout_s, caller):
                raise CallFailed(f"{target_name}: still talking after {t.listen_timeout_s:.0f} s (turn {i})")
            first, last = _speak(caller, clip)
            result = TurnResult(i, step.text, None, t_last_speech=last)
            if step.barge_in:
                # The agent was still talking 100-200 ms after the caller began: sooner than any
                # reaction can come, so its silence is a reaction, not the end of its own sentence.
                result.barge_valid = talking_at(arrivals(), first + 0.2, window_s=0.1)
                end = _wait(lambda f=first: burst_end(arrivals(), f, t.barge_gap_s, time.monotonic()),
                            t.listen_timeout_s, caller)
                if end is not None:
                    result.barge_in_ms = (end - first) * 1000
            reply = _wait(lambda x=last: onset_after(arrivals(), x), t.reply_timeout_s, caller)
            if reply is None and not strict:
                result.no_reply = True
                turns.append(result)
                reply_onset = None
                continue
            if reply is None:
                raise NoReply(f"{target_name}, script {script.name}, turn {i} ({step.text!r}): no reply carrying "
                              f"speech within {t.reply_timeout_s:.0f} s of the caller's last word")
            result.talked_over = talking_at(arrivals(), last)
            result.t_reply = reply
            result.v2v_ms = None if result.talked_over else (reply - last) * 1000
            reply_onset = reply
            turns.append(result)
            if on_turn:
                on_turn()
        # Let the last reply play out (bounded) so the agent logs its turn metrics, then hang up.
        _wait(lambda: quiet_since(arrivals(), time.monotonic()) >= t.quiet_s, t.listen_timeout_s, caller)
        caller.bye()
        security = caller.security() if isinstance(caller, SecureSipCaller) else None
        return CallResult(target_name, script.name, caller.call_id, (answered - t_invite) * 1000, first_word, turns,
                          caller.rtp.received_packets, security)
    finally:
        caller.bye(timeout=1.0)
        caller.close()
