"""When a call must end though nobody hung up: pure deadlines, no I/O.

- RFC 4028 session timers, where the peer offers them: `session_timer_for(request, min_se)`
  decides the interval and who refreshes, `session_headers` answers with it.
- `CallClock.due(now, ...)` names why a call is over: `max-duration`, `session-expired`
  (no refresh in time), `rtp-timeout` (no RTP from the peer, not while on hold); `refresh_due`
  says when the appliance must refresh the session itself (refresher=uas).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from appliance.telephony.sipmsg import SipMessage

Refresher = Literal["uac", "uas"]


class IntervalTooSmall(ValueError):
    """The offered Session-Expires is below our Min-SE: answer 422 with `Min-SE: min_se`."""

    def __init__(self, min_se: int) -> None:
        super().__init__(f"session interval below {min_se} s")
        self.min_se = min_se


@dataclass(frozen=True)
class SessionTimer:
    interval: int  # seconds
    refresher: Refresher

    @property
    def expires_after(self) -> float:
        """Seconds after a refresh when the session is over. The side that does not refresh ends it
        a little early (RFC 4028 §10: the smaller of 32 s and a third of the interval)."""
        if self.refresher == "uac":
            return self.interval - min(32.0, self.interval / 3)
        return float(self.interval)


def _delta_seconds(text: str | None) -> tuple[int, dict[str, str]] | None:
    if not text:
        return None
    value, *params = text.split(";")
    value = value.strip()
    if not value.isdigit() or len(value) > 10:
        return None
    out: dict[str, str] = {}
    for p in params:
        k, _, v = p.partition("=")
        out[k.strip().lower()] = v.strip().lower()
    return int(value), out


def _options(msg: SipMessage, name: str) -> set[str]:
    return {o.strip().lower() for v in msg.get_all(name) for o in v.split(",") if o.strip()}


def session_timer_for(msg: SipMessage, min_se: int) -> SessionTimer | None:
    """The session timer for an INVITE (or UPDATE) we answer (RFC 4028 §9), None when the peer
    offers none. Raises IntervalTooSmall when the peer supports timers and asks for less than
    `min_se`; a peer that does not support them gets the interval raised instead."""
    se = _delta_seconds(msg.get("Session-Expires"))
    if se is None:
        return None
    interval, params = se
    supported = "timer" in _options(msg, "Supported") or "timer" in _options(msg, "Require")
    peer_min = _delta_seconds(msg.get("Min-SE"))
    floor = max(min_se, peer_min[0] if peer_min else 0)
    if interval < floor:
        if supported:
            raise IntervalTooSmall(floor)
        interval = floor
    asked = params.get("refresher")
    if not supported:
        refresher: Refresher = "uas"  # a peer without timer support never refreshes
    elif asked == "uas":
        refresher = "uas"
    else:
        refresher = "uac"
    return SessionTimer(interval, refresher)


def session_headers(timer: SessionTimer | None) -> list[tuple[str, str]]:
    """Headers for our 2xx: the interval and refresher; Require: timer when the peer refreshes."""
    if timer is None:
        return []
    out = [("Supported", "timer"), ("Session-Expires", f"{timer.interval};refresher={timer.refresher}")]
    if timer.refresher == "uac":
        out.append(("Require", "timer"))
    return out


@dataclass
class CallClock:
    """A call's deadlines (monotonic seconds). Inbound: `answered_at` when the 200 is sent,
    `acked_at` when its ACK arrives. Outbound: both at the 2xx."""

    answered_at: float | None = None
    acked_at: float | None = None
    session: SessionTimer | None = None
    refreshed_at: float = 0.0
    refreshing: bool = False

    def answered(self, now: float, session: SessionTimer | None = None) -> None:
        self.answered_at = now
        self.session = session
        self.refreshed_at = now

    def refreshed(self, now: float, session: SessionTimer | None) -> None:
        self.session = session
        self.refreshed_at = now

    def due(self, now: float, *, max_call_s: float, rtp_timeout_s: float, last_rtp: float | None,
            rtp_expected: bool) -> str | None:
        """Why the call must end now, or None. `last_rtp`: the last packet from the peer, or the
        last change of the media (hold, resume, a new address), whichever is later."""
        if self.answered_at is None:
            return None
        if now - self.answered_at >= max_call_s:
            return "max-duration"
        if self.session is not None and now - self.refreshed_at >= self.session.expires_after:
            return "session-expired"
        if self.acked_at is not None and rtp_expected:
            since = max(self.acked_at, last_rtp or 0.0)
            if now - since >= rtp_timeout_s:
                return "rtp-timeout"
        return None

    def refresh_due(self, now: float) -> bool:
        """The appliance refreshes the session (refresher=uas) half-way through the interval."""
        return (self.session is not None and self.session.refresher == "uas" and not self.refreshing
                and now - self.refreshed_at >= self.session.interval / 2)
