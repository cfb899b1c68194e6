"""The outbound-call policy: when a contact may be placed, retries, capacity, consent.

Pure: no clock (`now` is passed in, a timezone-aware datetime), no I/O. A call may start only
while (1) the clinic is open, with a margin before closing so a concern can reach a clinician,
and (2) it is outside quiet hours in the patient's own time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 21
RETRYABLE = ("no-answer", "busy", "failed", "rejected", "voicemail", "lease-expired", "hung-up")


def hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


def parse_span(span: str) -> tuple[time, time] | None:
    """'09:00-18:00' -> (09:00, 18:00); 'closed' -> None."""
    if span.strip().lower() == "closed":
        return None
    start, end = span.split("-")
    return hhmm(start), hhmm(end)


@dataclass(frozen=True)
class CallPolicy:
    clinic_tz: str
    clinic_hours: dict[str, str]  # weekday -> "09:00-18:00" | "closed" (a missing day is closed)
    quiet_start: time = time(20, 0)  # patient-local: no calls from here ...
    quiet_end: time = time(9, 0)  # ... until here
    closing_margin: timedelta = timedelta(minutes=30)
    max_attempts: int = 3
    retry_after: dict[str, timedelta] = field(default_factory=lambda: {
        "no-answer": timedelta(hours=2), "busy": timedelta(minutes=30), "failed": timedelta(hours=1),
        "rejected": timedelta(hours=4), "voicemail": timedelta(hours=4), "lease-expired": timedelta(minutes=5),
        "hung-up": timedelta(hours=2)})

    # ---- allowed windows ----

    def _clinic_windows(self, day: date) -> list[tuple[datetime, datetime]]:
        spec = self.clinic_hours.get(WEEKDAYS[day.weekday()])
        span = parse_span(spec) if spec else None
        if span is None:
            return []
        tz = ZoneInfo(self.clinic_tz)
        start = datetime.combine(day, span[0], tz)
        end = datetime.combine(day, span[1], tz) - self.closing_margin
        return [(start, end)] if end > start else []

    def _patient_windows(self, day: date, patient_tz: str) -> list[tuple[datetime, datetime]]:
        tz = ZoneInfo(patient_tz)
        if self.quiet_end < self.quiet_start:  # e.g. quiet 20:00-09:00: allowed 09:00-20:00
            return [(datetime.combine(day, self.quiet_end, tz), datetime.combine(day, self.quiet_start, tz))]
        # quiet inside the day (e.g. 12:00-13:00): allowed before and after it
        return [(datetime.combine(day, time(0), tz), datetime.combine(day, self.quiet_start, tz)),
                (datetime.combine(day, self.quiet_end, tz), datetime.combine(day + timedelta(days=1), time(0), tz))]

    def allowed_at(self, when: datetime, patient_tz: str) -> bool:
        return self.next_allowed(when, patient_tz) == when.astimezone(UTC)

    def next_allowed(self, earliest: datetime, patient_tz: str | None = None) -> datetime | None:
        """The first instant at or after `earliest` (UTC) when a call may start; None within the horizon."""
        if earliest.tzinfo is None:
            raise ValueError("earliest must carry a timezone")
        ptz = patient_tz or self.clinic_tz
        t = earliest.astimezone(UTC)
        first = t.astimezone(ZoneInfo(self.clinic_tz)).date()
        best: datetime | None = None
        for offset in range(HORIZON_DAYS + 1):
            day = first + timedelta(days=offset)
            for c0, c1 in self._clinic_windows(day):
                pdays = {c0.astimezone(ZoneInfo(ptz)).date() + timedelta(days=d) for d in (-1, 0, 1)}
                for pday in sorted(pdays):
                    for p0, p1 in self._patient_windows(pday, ptz):
                        lo, hi = max(c0, p0, t), min(c1, p1)
                        if lo < hi:
                            cand = lo.astimezone(UTC)
                            best = cand if best is None or cand < best else best
            if best is not None:
                return best
        return None

    # ---- attempts ----

    def after_attempt(self, attempts: int, result: str, now: datetime, patient_tz: str | None = None,
                      expires_at: datetime | None = None) -> datetime | None:
        """When to try again after an unsuccessful attempt (`attempts` made so far); None: give up."""
        if result not in RETRYABLE or attempts >= self.max_attempts:
            return None
        nxt = self.next_allowed(now + self.retry_after.get(result, timedelta(hours=1)), patient_tz)
        if nxt is None or (expires_at is not None and nxt > expires_at):
            return None
        return nxt


def outbound_capacity(*, active_outbound: int, active_inbound: int, max_calls: int, max_outbound: int,
                      reserve_inbound: int) -> int:
    """How many more outbound calls may start now: below the outbound limit, and always leaving
    `reserve_inbound` lines free for patients calling in."""
    free_lines = max_calls - reserve_inbound - active_inbound - active_outbound
    return max(0, min(max_outbound - active_outbound, free_lines))


@dataclass(frozen=True)
class ContactRights:
    consent: bool | None  # latest recorded answer for aftercare calls; None: never asked
    opted_out: bool  # the number asked not to be called (channel call or all)


def may_contact(rights: ContactRights, *, require_consent: bool) -> tuple[bool, str]:
    """(allowed, reason) — opt-out always wins, then an explicit refusal, then missing consent."""
    if rights.opted_out:
        return False, "opted-out"
    if rights.consent is False:
        return False, "consent-withdrawn"
    if rights.consent is None and require_consent:
        return False, "no-consent"
    return True, "ok"
