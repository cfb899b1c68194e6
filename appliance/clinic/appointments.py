"""Existing appointments as a call sees them: what the conversation may look up (`AppointmentDesk`),
and the cancellation policy's decision. Pure: no clock (the call's `now` is passed), no I/O.

A live call's desk reads the encrypted record store (`appliance.records.appointments`); a
`converse` script's desk is the script's own list (`InMemoryDesk`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from appliance.clinic.schema import Cancellation


@dataclass(frozen=True)
class Upcoming:
    """One booked appointment, in the clinic's local time (naive, like the call's `now`)."""

    id: int
    start: datetime
    minutes: int
    provider: str
    treatment: str | None = None  # treatment id (or workflow id) as booked
    deposit_cents: int = 0
    confirmed: bool = False

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)


class AppointmentDesk(Protocol):
    """The lookups a call may make. Both return booked appointments from now on, soonest first."""

    async def for_caller(self) -> list[Upcoming]:
        """The appointments of the one patient the caller ID belongs to (empty when none)."""
        ...

    async def for_identity(self, name: str, dob: date) -> list[Upcoming]:
        """The appointments of the patient with this name and date of birth (empty when none, or
        when more than one patient matches)."""
        ...


@dataclass
class InMemoryDesk:
    """A desk over a fixed list (converse scripts, tests): `caller` is what caller ID finds;
    `people` maps (lower-cased full name, date of birth) to appointments."""

    caller: list[Upcoming] = field(default_factory=list)
    people: dict[tuple[str, date], list[Upcoming]] = field(default_factory=dict)

    async def for_caller(self) -> list[Upcoming]:
        return list(self.caller)

    async def for_identity(self, name: str, dob: date) -> list[Upcoming]:
        return list(self.people.get((" ".join(name.lower().split()), dob), []))


@dataclass(frozen=True)
class CancelTerms:
    late: bool  # less notice than the policy asks
    deposit: str  # "kept" | "refunded" | "none" (no deposit on this appointment)


def cancel_terms(policy: Cancellation, appt: Upcoming, now: datetime) -> CancelTerms:
    """The policy's outcome for cancelling `appt` at `now`."""
    late = appt.start - now < timedelta(hours=policy.notice_hours)
    if appt.deposit_cents <= 0:
        return CancelTerms(late, "none")
    return CancelTerms(late, policy.deposit_late if late else policy.deposit_in_notice)
