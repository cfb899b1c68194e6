"""What calendar sync does with each appointment: pure decisions, no clock, no I/O.

The clinic's calendar is the source of truth for availability. An appointment's calendar state:

- None: not handled yet (or made before sync was turned on for its provider: never written);
- "unconfirmed": booked on the appliance, not yet in the clinic's calendar (the server was down);
- "confirmed": in the calendar as `cal_start`-`cal_end`, last seen with `cal_etag`;
- "conflict": refused at write time (its slot was taken in the calendar): cancelled, escalated;
- "removed": cancelled, and no longer in the calendar.

Each sync round reads the calendars first (`pull_action`: what the calendar changed), then
writes the appliance's changes (`push_action`), deletions before moves before new bookings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from appliance.calsync.ical import Interval, RemoteEvent

CalState = Literal["unconfirmed", "confirmed", "conflict", "removed"]
Pull = Literal["adopt", "seen", "cancel-local", "move-local", "forget"]
Push = Literal["create", "update", "delete", "conflict", "revert", "unconfirmed"]
PUSH_ORDER: dict[str, int] = {"delete": 0, "revert": 1, "update": 2, "conflict": 3, "create": 4, "unconfirmed": 5}


@dataclass(frozen=True)
class Appointment:
    """An appointment as calendar sync sees it (times UTC-aware; no patient data)."""

    id: int
    provider: str
    start: datetime
    end: datetime
    status: str  # booked | cancelled | completed | no-show
    cal_state: str | None = None
    cal_uid: str | None = None
    cal_href: str | None = None  # the event's resource (a path on the server)
    cal_etag: str | None = None
    cal_start: datetime | None = None
    cal_end: datetime | None = None

    @property
    def span(self) -> Interval:
        return (self.start, self.end)

    @property
    def written(self) -> Interval | None:
        return (self.cal_start, self.cal_end) if self.cal_start and self.cal_end else None


def overlaps(a: Interval, b: Interval) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def foreign_busy(events: Iterable[RemoteEvent], own_uids: set[str]) -> list[Interval]:
    """Busy times from the calendar's other events (not the appliance's own appointments)."""
    return [span for ev in events if not (ev.uid and ev.uid in own_uids) for span in ev.busy]


def pull_action(a: Appointment, remote: RemoteEvent | None) -> Pull | None:
    """What the calendar's copy of the appointment's event (None: not in the calendar) means
    for the appointment. Called only after the provider's calendar was read in full."""
    if a.cal_state in (None, "unconfirmed"):
        # Written before (the write's answer was lost, or the box restarted): take it as written.
        return "adopt" if remote is not None and not remote.cancelled and a.status == "booked" else None
    if a.cal_state != "confirmed":
        return None
    if remote is None or remote.cancelled:  # deleted (or cancelled) in the calendar
        return "cancel-local" if a.status == "booked" else "forget"
    if remote.first is not None and remote.first != a.written:
        # Moved in the calendar: the calendar wins, over a move made on the box meanwhile too.
        return "move-local" if a.status == "booked" else "seen"
    return "seen" if remote.etag != a.cal_etag else None


def push_action(a: Appointment, busy: list[Interval], server_up: bool) -> Push | None:
    """What the appliance writes for the appointment. `busy`: the provider's foreign busy times,
    just read from the calendar (when `server_up`)."""
    if a.status == "booked" and a.cal_state in (None, "unconfirmed"):
        if not server_up:
            return "unconfirmed" if a.cal_state is None else None
        return "conflict" if any(overlaps(a.span, b) for b in busy) else "create"
    if not server_up:
        return None
    if a.status == "booked" and a.cal_state == "confirmed" and a.written != a.span:
        return "revert" if any(overlaps(a.span, b) for b in busy) else "update"
    if a.status != "booked" and a.cal_state == "confirmed":
        return "delete" if a.status == "cancelled" else None
    return None


def plan_push(appointments: Iterable[Appointment], busy_by_provider: dict[str, list[Interval]],
              server_up: bool) -> list[tuple[Push, Appointment]]:
    """Every write, in the order that frees slots before taking them."""
    out: list[tuple[Push, Appointment]] = []
    for a in appointments:
        action = push_action(a, busy_by_provider.get(a.provider, []), server_up)
        if action:
            out.append((action, a))
    return sorted(out, key=lambda pair: (PUSH_ORDER[pair[0]], pair[1].start, pair[1].id))


def backoff_s(failures: int, base: float, cap: float) -> float:
    """Seconds before the next try after `failures` failed rounds in a row (base, 2 x base, ... cap)."""
    step: int = 2 ** max(0, min(failures - 1, 20))  # int ** int is typed Any (a negative power is a float)
    return min(cap, base * step)
