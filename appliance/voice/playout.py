"""What the agent has queued and played in one call, in media time: the barge-in bookkeeping.

The conversation processor registers each line it sends to synthesis (`queued`); the output
transport registers each synthesised piece when it reaches the media (`segment_started`),
at the media position where its audio begins. From that and `media.sent_audio_ms()` this
answers "is the agent talking?", "may it be interrupted now?" and, on a barge-in, how much of
the reply the caller heard (`policy.heard_fraction`), which the conversation is told at once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from appliance.calls import CallMedia
from appliance.voice.metrics import CallMetrics, TurnMetrics
from appliance.voice.policy import Segment, heard_fraction, segment_at

_KEEP_REPLIES = 4


@dataclass
class _Cut:
    turn: TurnMetrics | None
    detected: float
    fraction: float | None


class Playout:
    def __init__(self, media: CallMedia, on_cut: Callable[[float], None], metrics: CallMetrics) -> None:
        self.media = media
        self._on_cut = on_cut
        self._metrics = metrics
        self._segments: list[tuple[int, Segment]] = []
        self._pending: defaultdict[tuple[int, bool], int] = defaultdict(int)  # (reply, interruptible) -> chars
        self._reply = -1
        self._cut_upto = -1  # interruptible speech of replies up to this one was cut
        self._cut: _Cut | None = None
        self._held_since: float | None = None  # the agent's audio is held (caller may be interrupting)
        self.hold_turn_ended = False  # a turn ended during the hold: its transcript decides

    # ---- registration

    def new_reply(self) -> int:
        self._reply += 1
        old = self._reply - _KEEP_REPLIES
        self._segments = [(r, s) for r, s in self._segments if r > old]
        return self._reply

    def queued(self, reply: int, chars: int, interruptible: bool) -> None:
        self._pending[(reply, interruptible)] += chars

    def is_cut(self, reply: int) -> bool:
        return reply <= self._cut_upto

    def segment_started(self, reply: int, chars: int, ms: int, interruptible: bool, start_ms: int) -> bool:
        """A piece of a line reaches the media at `start_ms`. False: it belongs to speech that
        a barge-in cut (it is being cleared), so it is not counted."""
        if interruptible and self.is_cut(reply):
            return False
        key = (reply, interruptible)
        self._pending[key] = max(0, self._pending[key] - chars)
        if ms > 0:
            self._segments.append((reply, Segment(start_ms, start_ms + ms, chars, interruptible)))
        return True

    # ---- questions the turn-taking asks

    def agent_talking(self) -> bool:
        pos = self.media.sent_audio_ms()
        return (self.media.pending_audio_ms() > 0 or any(s.end_ms > pos for _, s in self._segments)
                or any(v > 0 for v in self._pending.values()))

    def interruptible_now(self) -> bool:
        pos = self.media.sent_audio_ms()
        segments = [s for _, s in self._segments]
        seg = segment_at(segments, pos)
        if seg is not None:
            return seg.interruptible
        upcoming = sorted((s for s in segments if s.start_ms >= pos), key=lambda s: s.start_ms)
        return upcoming[0].interruptible if upcoming else True

    # ---- holding the agent's audio while the caller may be interrupting

    @property
    def held(self) -> bool:
        return self._held_since is not None

    @property
    def held_since(self) -> float | None:
        """When the hold began (monotonic), or None."""
        return self._held_since

    def hold(self, turn: TurnMetrics | None) -> None:
        """Caller speech over interruptible audio: stop sending at once, drop nothing."""
        if self._held_since is not None:
            return
        pause = getattr(self.media, "pause_audio", None)
        if pause is None:
            return  # a media without holds: the interruption alone stops the agent
        self._held_since = time.monotonic()
        self.hold_turn_ended = False
        pause(True)
        if turn is not None and turn.barge_in_held is None:
            turn.barge_in_held = self._held_since
        self._metrics.event("voice.hold", position_ms=self.media.sent_audio_ms())

    def release(self, why: str) -> None:
        """End a hold: "backchannel", "noise" (too short to be a turn) or "expired" resume the agent
        where it was held;
        "interrupt" follows a barge-in (the held audio has been cleared)."""
        if self._held_since is None:
            return
        held_ms = round((time.monotonic() - self._held_since) * 1000)
        self._held_since = None
        self.media.pause_audio(False)
        self._metrics.event("voice.hold_released", why=why, held_ms=held_ms)

    # ---- barge-in

    def barge_in(self, turn: TurnMetrics | None) -> float | None:
        """The caller talks over the agent: tell the conversation what was heard of the current
        reply, and forget the interruptible speech that will now be dropped. Returns the heard
        fraction (None when the reply had nothing left to cut)."""
        detected = time.monotonic()
        pos = self.media.sent_audio_ms()
        reply = self._reply
        segs = [s for r, s in self._segments if r == reply]
        pending = self._pending[(reply, True)] + self._pending[(reply, False)]
        fraction: float | None = None
        if segs or pending:
            fraction = heard_fraction(segs, pending, pos)
            self._on_cut(fraction)
        self._cut_upto = reply
        for key in [k for k in self._pending if k[1]]:
            self._pending[key] = 0
        kept: list[tuple[int, Segment]] = []
        for r, s in self._segments:
            if s.interruptible and s.end_ms > pos:
                if s.start_ms >= pos:
                    continue  # never played
                s = Segment(s.start_ms, pos, round(s.chars * (pos - s.start_ms) / max(1, s.end_ms - s.start_ms)))
            kept.append((r, s))
        self._segments = kept
        self._cut = _Cut(turn, detected, fraction)
        return fraction

    def cleared(self, dropped_ms: int) -> None:
        """The output transport acted on the interruption (cleared the media queue)."""
        self.release("interrupt")  # what was held is gone: the next reply plays at once
        cut, self._cut = self._cut, None
        if cut is None:
            return
        stopped = time.monotonic()
        if cut.turn is not None:
            cut.turn.barge_in_detected, cut.turn.barge_in_stopped = cut.detected, stopped
        protected = sum(1 for _, s in self._segments if not s.interruptible and s.end_ms > self.media.sent_audio_ms())
        self._metrics.event("voice.barge_in", heard_fraction=None if cut.fraction is None else round(cut.fraction, 3),
                            dropped_ms=dropped_ms, reaction_ms=round((stopped - cut.detected) * 1000, 2),
                            kept_protected=protected)
