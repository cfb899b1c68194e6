"""Turn-taking decisions: pure, no clock, no audio, no I/O.

Every method takes the time (seconds, any monotonic origin) and the observation; the classes
hold only counters and timestamps, so a 30-second conversation is tested in microseconds on
a virtual clock. The voice session feeds them VAD probabilities and acts on what they return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from appliance.config import DEFAULT_BACKCHANNELS, VoiceSettings

# ---------------------------------------------------------------- VAD gate


@dataclass
class VadGate:
    """Hysteresis over per-window speech probabilities.

    Speech starts after `start_s` of windows at or above `on`; it stops after `stop_s` of
    windows below `off`. Reports the time the voiced run began and the end of the last voiced
    window, so endpointing measures silence from when the caller actually stopped.
    """

    on: float = 0.5
    off: float = 0.35
    start_s: float = 0.064
    stop_s: float = 0.064
    speaking: bool = False
    run_start: float | None = None  # first window of the current voiced run (before confirmation)
    last_voiced_end: float | None = None
    quiet_since: float | None = None

    @classmethod
    def for_threshold(cls, on: float) -> VadGate:
        """The gate a call uses for `[voice] vad_threshold`: off 0.15 below it (at least 0.05)."""
        return cls(on=on, off=max(0.05, on - 0.15))

    def update(self, t: float, window_s: float, prob: float) -> Literal["start", "stop"] | None:
        """`t` is the window's start time. Returns "start"/"stop" on a change of state."""
        end = t + window_s
        if not self.speaking:
            if prob >= self.on:
                if self.run_start is None:
                    self.run_start = t
                self.last_voiced_end = end
                if end - self.run_start >= self.start_s:
                    self.speaking = True
                    self.quiet_since = None
                    return "start"
            else:
                self.run_start = None
            return None
        if prob >= self.off:
            self.last_voiced_end = end
            self.quiet_since = None
            return None
        if self.quiet_since is None:
            self.quiet_since = t
        if end - self.quiet_since >= self.stop_s:
            self.speaking = False
            self.run_start = None
            return "stop"
        return None


# ---------------------------------------------------------------- endpointing

EndpointMode = Literal["silence", "smart-turn"]
Expect = Literal["open", "yes-no", "name", "digits", "date"]  # the answer the agent's last question wants


@dataclass
class TurnHint:
    """What the call's processors know about the caller's next turn: the answer the last question
    wants (set by the conversation stage) and the latest early transcript (set by transcription)."""

    expect: Expect = "open"
    early: tuple[float, str] | None = None  # (speech end of the pause it was taken in, text)


@dataclass(frozen=True)
class EndOfTurn:
    """How long a pause ends the turn, from what was asked and what was heard so far.

    A yes/no or a name said in a short breath (at most `short_s` of speech) ends after `fast_s`;
    phone numbers and dates, said in parts, wait `parts_s`; an early transcript that stops on a
    word that cannot end a sentence ("I'd like to book a ...", "um") waits `unfinished_s`, and a
    phone number with fewer than `phone_digits` digits so far waits `number_s`; with
    `complete_s` set, an open answer whose early transcript reads as a finished sentence (its
    recogniser closed it with ".", "?" or "!") ends after `complete_s`; anything else waits the
    configured silence. An open answer that so far only opens the turn (`openings`: "Hi, it's
    probably nothing, ...") waits `unfinished_s` too."""

    fast_s: float = 0.25
    short_s: float = 1.2
    parts_s: float = 0.9
    unfinished_s: float = 1.2
    complete_s: float | None = None  # None: a finished-looking sentence waits the base silence too
    hold_words: frozenset[str] = frozenset()  # the language's (`[voice] hold_words`)
    finishing: tuple[str, ...] = ()  # phrases that end a sentence on a hold word (`[voice] finishing_phrases`)
    openings: tuple[str, ...] = ()  # phrases that open an open answer and announce more (`[voice] opening_phrases`)
    phone_digits: int = 0  # digits in a whole phone number: fewer so far waits `number_s` (0: off)
    number_s: float = 1.6  # callers pause longer between a number's groups than inside a sentence
    digit_words: frozenset[str] = frozenset()  # words for one digit ("oh", "five"; `[voice] digit_words`)

    def unfinished(self, text: str) -> bool:
        """The words stop where a sentence cannot end: on a hold word (not in a finishing phrase:
        "I don't think so."), or trailing off ("...", ",")."""
        if text.rstrip().endswith(("...", "…", ",", "-")):
            return True
        norm = _normal(text)
        words = norm.split()
        if not words or words[-1] not in self.hold_words:
            return False
        return not any(norm == p or norm.endswith(" " + p) for p in map(_normal, self.finishing))

    def opening_only(self, text: str) -> bool:
        """The words so far only open the turn: a greeting or a hedge ("Hi, it's probably
        nothing.", "Quick question.") that callers follow, after a breath, with what they called
        about. Openings are taken off the front one after another; nothing may be left."""
        norm = _normal(text)
        if not norm:
            return False
        phrases = sorted({_normal(p) for p in self.openings} - {""}, key=len, reverse=True)
        while True:
            for p in phrases:
                if norm == p:
                    return True
                if norm.startswith(p + " "):
                    norm = norm[len(p) + 1:]
                    break
            else:
                return False

    def digits(self, text: str) -> int:
        """How many digits the words hold: figures ("555-0105") and words for one digit ("oh", "five")."""
        return sum(sum(c.isdigit() for c in w) or (w in self.digit_words) for w in _normal(text).split())

    def short_number(self, text: str) -> bool:
        """Some digits of a phone number, not all of them yet ("Five five five ...")."""
        return self.phone_digits > 0 and 0 < self.digits(text) < self.phone_digits

    def finished(self, text: str) -> bool:
        """The words read as a whole sentence: closed by the recogniser, not stopping on a hold word."""
        return bool(_normal(text)) and not self.unfinished(text) and text.rstrip().endswith((".", "?", "!"))

    def silence_s(self, base_s: float, expect: str, voiced_s: float, early_text: str | None) -> float:
        if early_text is not None and expect == "digits" and self.short_number(early_text):
            return max(base_s, self.number_s)
        if early_text is not None and (self.unfinished(early_text)
                                       or (expect == "open" and self.opening_only(early_text))):
            return max(base_s, self.unfinished_s)
        if (self.complete_s is not None and expect == "open" and early_text is not None
                and self.finished(early_text)):
            return min(base_s, self.complete_s)
        if expect in ("yes-no", "name") and voiced_s <= self.short_s + 1e-9:
            return min(base_s, self.fast_s)
        if expect in ("digits", "date"):
            return max(base_s, self.parts_s)
        return base_s


@dataclass(frozen=True)
class Decision:
    """What the endpointer wants done now."""

    kind: Literal["early-asr", "ask-turn-model", "end-of-turn"]
    speech_end: float  # when the caller stopped speaking (end of the last voiced window)


@dataclass
class Endpointer:
    """Decide when the caller's turn has ended.

    - silence: the turn ends after `silence_s` without speech, or, with an `EndOfTurn` rule,
      after the pause it sets from `expect` and the pause's early transcript (`heard_early`).
    - smart-turn: after `turn_check_s` of silence the turn model is asked (once per pause);
      "complete" ends the turn, otherwise it ends anyway after `max_silence_s`.
    In both modes an early transcription is requested after `early_asr_s` of silence, so the
    transcript is ready (or nearly) when the turn ends; speech that resumes makes it stale.
    With a rule, a pause that reaches its limit while that pass is still out waits for its words
    up to `words_wait_s` more (the final transcript waits for the same pass, so the reply is not
    later for it), then decides from them: "I would like to book..." waits on, "Yes." ends.
    Utterances shorter than `min_speech_s` of voiced audio are ignored as noise.
    """

    mode: EndpointMode = "silence"
    silence_s: float = 0.5
    turn_check_s: float = 0.2
    max_silence_s: float = 1.6
    early_asr_s: float = 0.2
    min_speech_s: float = 0.15
    rule: EndOfTurn | None = None
    words_wait_s: float = 0.0  # 0: the limit never waits for an early pass still out
    expect: str = "open"
    early_text: str | None = None  # the early transcript of the current pause
    in_turn: bool = False
    voiced_s: float = 0.0
    pause_start: float | None = None
    _asked_early: bool = False
    _asked_model: bool = False

    def speech(self, t: float, window_s: float) -> None:
        """A voiced window (as judged by the VAD gate) starting at `t`."""
        self.in_turn = True
        self.voiced_s += window_s
        self.pause_start = None
        self.early_text = None
        self._asked_early = False
        self._asked_model = False

    def heard_early(self, speech_end: float, text: str) -> None:
        """The early transcript of the pause that began at `speech_end` (stale ones are ignored)."""
        if self.in_turn and self.pause_start is not None and abs(self.pause_start - speech_end) <= 1e-3:
            self.early_text = text

    def limit_s(self) -> float:
        """The silence that ends the current turn now."""
        if self.mode != "silence":
            return self.max_silence_s
        if self.rule is None:
            return self.silence_s
        return self.rule.silence_s(self.silence_s, self.expect, self.voiced_s, self.early_text)

    def silence(self, t: float, window_s: float, speech_end: float) -> Decision | None:
        """An unvoiced window at `t`; `speech_end` is the end of the last voiced window."""
        if not self.in_turn:
            return None
        if self.pause_start is None:
            self.pause_start = speech_end
        quiet = t + window_s - self.pause_start
        if self.voiced_s < self.min_speech_s:
            if quiet >= self.silence_s:
                self.reset()  # a click or a breath: no turn
            return None
        # Decisions name the start of the pause they measured: a lone voiced window inside the
        # pause (too short for the gate to call it speech) neither restarts nor moves it.
        end = self.pause_start
        if quiet >= self.limit_s() and not self._awaiting_words(quiet):
            self.reset()
            return Decision("end-of-turn", end)
        if self.mode == "smart-turn" and not self._asked_model and quiet >= self.turn_check_s:
            self._asked_model = True
            return Decision("ask-turn-model", end)
        if not self._asked_early and quiet >= self.early_asr_s:
            self._asked_early = True
            return Decision("early-asr", end)
        return None

    def _awaiting_words(self, quiet: float) -> bool:
        """The early pass of this pause is out and its words would decide: wait for them, bounded."""
        return (self.mode == "silence" and self.rule is not None and self._asked_early
                and self.early_text is None and quiet < self.limit_s() + self.words_wait_s)

    def turn_model_said(self, complete: bool, speech_end: float) -> Decision | None:
        """The turn model's verdict for the pause that began at `speech_end`."""
        if not self.in_turn or self.pause_start is None or abs(self.pause_start - speech_end) > 1e-3:
            return None  # speech resumed meanwhile: the verdict is stale
        if complete:
            self.reset()
            return Decision("end-of-turn", speech_end)
        return None

    def reset(self) -> None:
        self.in_turn = False
        self.voiced_s = 0.0
        self.pause_start = None
        self.early_text = None
        self._asked_early = False
        self._asked_model = False


def end_of_turn(settings: VoiceSettings) -> EndOfTurn | None:
    """The adaptive end-of-turn rule the `[voice]` settings ask for (None: the plain silence)."""
    if not settings.adaptive_endpointing:
        return None
    return EndOfTurn(fast_s=settings.fast_end_ms / 1000, parts_s=settings.parts_end_ms / 1000,
                     unfinished_s=settings.unfinished_end_ms / 1000,
                     complete_s=None if settings.complete_end_ms is None else settings.complete_end_ms / 1000,
                     hold_words=frozenset(w.lower() for w in settings.hold_words),
                     finishing=settings.finishing_phrases, openings=settings.opening_phrases,
                     phone_digits=settings.phone_digits, number_s=settings.partial_number_ms / 1000,
                     digit_words=frozenset(w.lower() for w in settings.digit_words))


def call_endpointer(settings: VoiceSettings, *, early_words: bool) -> Endpointer:
    """A call's endpointer from the `[voice]` settings (a live call's and a shadow call's alike).
    `early_words`: the early pass's words reach it (`heard_early`), so a limit may wait for them."""
    return Endpointer(
        mode=settings.endpointing, silence_s=settings.silence_ms / 1000,
        turn_check_s=settings.turn_check_ms / 1000, max_silence_s=settings.max_silence_ms / 1000,
        early_asr_s=settings.early_asr_ms / 1000, rule=end_of_turn(settings),
        words_wait_s=settings.early_words_wait_ms / 1000 if settings.early_asr and early_words else 0.0)


# ---------------------------------------------------------------- back-channels

def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' -]", " ", text.lower())).strip()


@dataclass
class BackchannelFilter:
    """Is a short caller utterance, said while the agent talks, only a back-channel?"""

    phrases: tuple[str, ...] = DEFAULT_BACKCHANNELS
    max_words: int = 3
    _set: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self._set = frozenset(_normal(p) for p in self.phrases)

    def is_backchannel(self, text: str) -> bool:
        norm = _normal(text)
        if not norm:
            return True  # nothing intelligible: no reason to stop talking
        if len(norm.split()) > self.max_words:
            return False
        if norm in self._set:
            return True
        # "okay okay", "yeah right", "mm-hm okay": every part a back-channel
        parts = [p for p in re.split(r"[ ,]+", norm) if p]
        return all(p in self._set for p in parts)


# ---------------------------------------------------------------- barge-in


@dataclass
class BargeInPolicy:
    """Should caller speech stop the agent's audio?

    While the agent plays interruptible audio, caller speech of `pause_s` holds it at once
    (the queued audio waits, silence goes out: nothing is dropped yet); sustained speech
    (`min_speech_s`, longer than a drawn-out "mm-hmm" or "okay, okay") interrupts. Shorter speech waits for its
    transcript: a back-channel resumes the agent where it was held, anything else interrupts.
    Protected audio is never held or interrupted. A hold that nothing decides ends after
    `max_pause_s` of caller silence (a cough, a door: no turn), or, when a turn is waiting
    for its transcript, after `max_wait_s` (a slow or failed transcription must not leave the
    caller in silence): the agent resumes.
    """

    min_speech_s: float = 1.0
    backchannels: BackchannelFilter = field(default_factory=BackchannelFilter)
    pause_s: float = 0.12  # 0: never hold, wait for `min_speech_s` or the transcript
    max_pause_s: float = 2.5
    max_wait_s: float = 8.0

    def on_speech_hold(self, speech_start: float, now: float, agent_talking: bool, interruptible: bool) -> bool:
        """Hold the agent's audio now?"""
        return (self.pause_s > 0 and agent_talking and interruptible
                and now - speech_start >= self.pause_s - 1e-9)

    def hold_expired(self, held_since: float, quiet_since: float | None, now: float,
                     transcript_pending: bool = False) -> bool:
        """A hold with no decision: resume once the caller has been quiet for `max_pause_s`
        (`max_wait_s` when a turn is waiting for its transcript)."""
        limit = self.max_wait_s if transcript_pending else self.max_pause_s
        return quiet_since is not None and now - max(held_since, quiet_since) >= limit - 1e-9

    def on_speech(self, speech_start: float, now: float, agent_talking: bool, interruptible: bool) -> bool:
        return agent_talking and interruptible and now - speech_start >= self.min_speech_s - 1e-9

    def on_transcript(self, text: str, agent_talking: bool, interruptible: bool) -> Literal[
            "interrupt", "ignore", "turn"]:
        """A finished caller utterance. "ignore": drop it (back-channel while the agent talks);
        "interrupt": stop the agent, then take the turn; "turn": take it (agent silent or protected)."""
        if not agent_talking:
            return "turn" if _normal(text) else "ignore"
        if self.backchannels.is_backchannel(text):
            return "ignore"
        return "interrupt" if interruptible else "turn"


# ---------------------------------------------------------------- what was heard


@dataclass(frozen=True)
class Segment:
    """A stretch of queued agent audio in media time (ms since the call's first sent sample)."""

    start_ms: int
    end_ms: int
    chars: int
    interruptible: bool = True


def heard_fraction(segments: list[Segment], pending_chars: int, position_ms: int) -> float:
    """Fraction of a reply's text the caller heard when playout stopped at `position_ms`.

    `segments` are the reply's sentences already synthesised and queued; `pending_chars` is
    text never synthesised (dropped). Within a sentence, heard text is taken in proportion
    to the audio played.
    """
    total = sum(s.chars for s in segments) + pending_chars
    if total <= 0:
        return 1.0
    heard = 0.0
    for s in segments:
        if position_ms >= s.end_ms:
            heard += s.chars
        elif position_ms > s.start_ms:
            heard += s.chars * (position_ms - s.start_ms) / max(1, s.end_ms - s.start_ms)
    return max(0.0, min(1.0, heard / total))


def segment_at(segments: list[Segment], position_ms: int) -> Segment | None:
    for s in segments:
        if s.start_ms <= position_ms < s.end_ms:
            return s
    return None
