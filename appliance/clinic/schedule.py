"""The appliance's schedule: provider availability and bookings, with no double booking.

Pure: "now" is passed in; bookings live behind `BookingStore` (in memory here; the encrypted
database implements the same protocol). Times are naive clinic-local times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol

from appliance.clinic.errors import SlotTaken
from appliance.clinic.schema import Clinic, Provider, Weekday

_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STEP_MINUTES = 30
HORIZON_DAYS = 60
LEAD = timedelta(hours=2)
HOLD = timedelta(minutes=10)  # how long slots offered on one call are kept from other calls


@dataclass(frozen=True)
class Slot:
    provider_id: str
    start: datetime
    minutes: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class Booking:
    id: str
    kind: str  # "consult" | "treatment" | "touch-up" | "review" | "series"
    treatment: str | None
    provider_id: str
    start: datetime
    minutes: int
    patient: str | None = None
    phone: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)


class BookingStore(Protocol):
    def on_day(self, provider_id: str, day: date) -> list[Booking]: ...

    def add(self, booking: Booking) -> None:
        """Store the booking; raise SlotTaken if it overlaps one of the provider's bookings."""
        ...


class InMemoryBookingStore:
    """The live slot calendar, shared by all calls; the service seeds it with the appointments
    already in the record store, and each phone booking is written there after its call."""

    def __init__(self, bookings: list[Booking] | None = None) -> None:
        self._bookings: list[Booking] = list(bookings or [])

    def on_day(self, provider_id: str, day: date) -> list[Booking]:
        return [b for b in self._bookings if b.provider_id == provider_id and b.start.date() == day]

    def add(self, booking: Booking) -> None:
        for b in self.on_day(booking.provider_id, booking.start.date()):
            if b.start < booking.end and booking.start < b.end:
                raise SlotTaken(f"{booking.provider_id} is already booked at {b.start:%Y-%m-%d %H:%M}",
                                fix="offer the caller another slot")
        self._bookings.append(booking)

    def all(self) -> list[Booking]:
        return list(self._bookings)


def _spans(spec: list[str] | str | None, day: date) -> list[tuple[datetime, datetime]]:
    items = [spec] if isinstance(spec, str) else (spec or [])
    out = []
    for s in items:
        if s == "closed":
            continue
        a, b = s.split("-")
        out.append((datetime.combine(day, time.fromisoformat(a)), datetime.combine(day, time.fromisoformat(b))))
    return out


class Scheduler:
    """Finds and books slots. Shared by the calls in progress: the slots offered on one call are
    held for it (`hold`) so that two callers are not offered the same time at once; a hold ends
    when its call books, ends (`release`) or `HOLD` after the call began."""

    def __init__(self, clinic: Clinic, store: BookingStore) -> None:
        self.clinic = clinic
        self.store = store
        self._holds: dict[str, tuple[list[Slot], datetime]] = {}  # holder -> (slots, until)

    def hold(self, holder: str, slots: list[Slot], now: datetime) -> None:
        """Keep `slots` from other callers' offers until `now` + `HOLD` (replacing `holder`'s hold).
        Holds lapsed by `now` are dropped: a call that never ended leaves nothing behind."""
        self._holds = {h: held for h, held in self._holds.items() if held[1] > now}
        self._holds[holder] = (list(slots), now + HOLD)

    def release(self, holder: str) -> None:
        self._holds.pop(holder, None)

    def _held(self, holder: str | None, now: datetime) -> list[Slot]:
        """The slots other holders are holding at `now`."""
        return [s for h, (slots, until) in self._holds.items() if h != holder and until > now for s in slots]

    def _eligible(self, family: str | None) -> list[Provider]:
        if family is None:  # a consultation: prescribers only
            return [p for p in self.clinic.providers if p.role in ("np", "md", "pa")]
        return [p for p in self.clinic.providers if family in p.families]

    def find(self, family: str | None, minutes: int, now: datetime, earliest: date | None = None,
             latest: date | None = None, count: int = 3, provider: str | None = None,
             holder: str | None = None) -> list[Slot]:
        """The first free slots, in time order, across eligible providers (one per start time), or
        with one `provider` only (moving an appointment keeps its provider). Slots held for calls
        other than `holder` count as taken."""
        start_day = max(now.date(), earliest or now.date())
        last_day = min(latest or now.date() + timedelta(days=HORIZON_DAYS), now.date() + timedelta(days=HORIZON_DAYS))
        out: list[Slot] = []
        closed = {h.date for h in self.clinic.holidays}  # clinic.yaml holidays: closed all day
        held = self._held(holder, now)
        day = start_day
        while day <= last_day and len(out) < count:
            if day in closed:
                day += timedelta(days=1)
                continue
            weekday = _DAYS[day.weekday()]
            open_spans = _spans(self.clinic.hours.get(weekday), day)
            candidates: dict[datetime, Slot] = {}
            for p in self._eligible(family):
                if provider is not None and p.id != provider:
                    continue
                taken: list[Booking | Slot] = [*self.store.on_day(p.id, day),
                                               *(h for h in held if h.provider_id == p.id and h.start.date() == day)]
                for a, b in _spans(p.hours.get(weekday), day):
                    t = a
                    while t + timedelta(minutes=minutes) <= b:
                        end = t + timedelta(minutes=minutes)
                        inside = any(oa <= t and end <= ob for oa, ob in open_spans)
                        free = all(not (x.start < end and t < x.end) for x in taken)
                        if inside and free and t >= now + LEAD and t not in candidates:
                            candidates[t] = Slot(p.id, t, minutes)
                        t += timedelta(minutes=STEP_MINUTES)
            out += [candidates[t] for t in sorted(candidates)][: count - len(out)]
            day += timedelta(days=1)
        return out

    def book(self, slot: Slot, kind: str, treatment: str | None, patient: str | None, phone: str | None) -> Booking:
        booking = Booking(id=f"{slot.provider_id}-{slot.start:%Y%m%d-%H%M}", kind=kind, treatment=treatment,
                          provider_id=slot.provider_id,
                          start=slot.start, minutes=slot.minutes, patient=patient, phone=phone)
        self.store.add(booking)
        return booking

    def provider(self, provider_id: str) -> Provider:
        return next(p for p in self.clinic.providers if p.id == provider_id)
