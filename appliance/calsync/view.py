"""The slot calendar calls book from, with the clinic calendars' busy times in it.

A `BookingStore` (appliance.clinic.schedule): the appliance's own bookings (seeded from the
record store at start, then each booking a call makes) plus the busy times last read from the
providers' calendars, which calendar sync replaces after every read. Calls read memory only:
a slow or absent calendar server never delays a caller; the busy times are the last known.
"""

from __future__ import annotations

import math
import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from appliance.clinic.errors import SlotTaken
from appliance.clinic.schedule import Booking

BUSY_KIND = "calendar-busy"


class CalendarView:
    def __init__(self, bookings: list[Booking], timezone: str) -> None:
        self._bookings = list(bookings)
        self._busy: dict[tuple[str, date], list[Booking]] = {}
        self._tz = ZoneInfo(timezone)
        self._lock = threading.Lock()  # calls and sync run on the event loop; tools may not

    def local(self, dt: datetime) -> datetime:
        """A UTC-aware time as the schedule's naive clinic-local time."""
        return dt.astimezone(self._tz).replace(tzinfo=None)

    def set_busy(self, spans: list[tuple[str, datetime, datetime]]) -> None:
        """Replace the calendars' busy times: (provider, start, end), UTC-aware. An event over
        several days blocks each day it touches."""
        busy: dict[tuple[str, date], list[Booking]] = {}
        for provider, start, end in spans:
            a, b = self.local(start), self.local(end)
            day = a.date()
            while datetime.combine(day, time(0)) < b:
                lo = max(a, datetime.combine(day, time(0)))
                hi = min(b, datetime.combine(day + timedelta(days=1), time(0)))
                minutes = math.ceil((hi - lo).total_seconds() / 60)
                if minutes > 0:
                    busy.setdefault((provider, day), []).append(
                        Booking(id=BUSY_KIND, kind=BUSY_KIND, treatment=None, provider_id=provider, start=lo,
                                minutes=minutes))
                day += timedelta(days=1)
        with self._lock:
            self._busy = busy

    def on_day(self, provider_id: str, day: date) -> list[Booking]:
        with self._lock:
            own = [b for b in self._bookings if b.provider_id == provider_id and b.start.date() == day]
            return own + list(self._busy.get((provider_id, day), []))

    def add(self, booking: Booking) -> None:
        with self._lock:
            taken = [b for b in self._bookings if b.provider_id == booking.provider_id
                     and b.start.date() == booking.start.date()]
            taken += self._busy.get((booking.provider_id, booking.start.date()), [])
            for b in taken:
                if b.start < booking.end and booking.start < b.end:
                    raise SlotTaken(f"{booking.provider_id} is busy at {b.start:%Y-%m-%d %H:%M}",
                                    fix="offer the caller another slot")
            self._bookings.append(booking)

    def forget(self, provider_id: str, start: datetime) -> None:
        """Free a booking's slot (cancelled or moved in the clinic's calendar); `start` UTC-aware."""
        at = self.local(start)
        with self._lock:
            self._bookings = [b for b in self._bookings if not (b.provider_id == provider_id and b.start == at)]

    def all(self) -> list[Booking]:
        with self._lock:
            return list(self._bookings)
