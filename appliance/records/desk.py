"""A live call's view of existing appointments (`appliance.clinic.appointments.AppointmentDesk`)
over the encrypted record store, and the post-call write of what the caller changed.

Lookups are bounded in time (the caller is waiting) and fail closed: a slow or failed store
finds nothing, and the conversation takes a message for staff instead. Every read and change
goes through the store's audited methods with the call's access."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from appliance.clinic.appointments import Upcoming
from appliance.conversation import Escalation
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.service import AsyncRecords
from appliance.records.store import Records

log = get_logger(__name__)

LOOKUP_TIMEOUT_S = 2.0


class RecordsDesk:
    def __init__(self, records: AsyncRecords, access: Access, patient_id: int | None, timezone: str) -> None:
        self.records = records
        self.access = access
        self.patient_id = patient_id  # the one patient caller ID found, if any
        self.tz = ZoneInfo(timezone)

    async def for_caller(self) -> list[Upcoming]:
        if self.patient_id is None:
            return []
        return await self._upcoming([self.patient_id])

    async def for_identity(self, name: str, dob: date) -> list[Upcoming]:
        try:
            ids = await asyncio.wait_for(
                self.records.invoke(lambda r: r.appointments.patients_by_name_dob, self.access, name, dob),
                LOOKUP_TIMEOUT_S)
        except Exception:  # noqa: BLE001  (TimeoutError included: nothing found, a message is taken)
            log.warning("call.appointment_lookup_failed", call_id=hostile(self.access.call_id or ""))
            return []
        return await self._upcoming(ids) if len(ids) == 1 else []  # two patients alike: staff decide

    async def _upcoming(self, ids: list[int]) -> list[Upcoming]:
        since = datetime.now(UTC)
        out: list[Upcoming] = []
        try:
            for pid in ids:
                rows = await asyncio.wait_for(
                    self.records.invoke(lambda r: r.appointments.upcoming_for_patient, self.access, pid, since),
                    LOOKUP_TIMEOUT_S)
                out += [upcoming_of(r, self.tz) for r in rows]
        except Exception:  # noqa: BLE001
            log.warning("call.appointment_lookup_failed", call_id=hostile(self.access.call_id or ""))
            return []
        return sorted(out, key=lambda a: a.start)



def upcoming_of(row: dict[str, Any], tz: ZoneInfo) -> Upcoming:
    """A stored appointment (`appliance.records.appointments.appointment_of`) in the clinic's local time."""
    start = datetime.fromisoformat(row["start"]).astimezone(tz)
    end = datetime.fromisoformat(row["end"]).astimezone(tz)
    return Upcoming(id=int(row["id"]), start=start.replace(tzinfo=None),
                    minutes=int((end - start).total_seconds() // 60), provider=str(row["provider"]),
                    treatment=row.get("procedure"), deposit_cents=int(row.get("deposit_cents") or 0),
                    confirmed=bool(row.get("confirmed")))


async def store_appointment_changes(records: AsyncRecords, access: Access, call_key: str, changes: list[dict[str, Any]],
                                    timezone: str, turn: int = 0) -> int:
    """Write what the caller changed (confirm, cancel, move), in order; returns how many were
    stored. A change the store refuses (the slot was taken meanwhile, the appointment was
    cancelled by staff) becomes a routine `appointment-change-failed` escalation on the call, so
    staff call the patient back: the caller was told it was done."""
    tz = ZoneInfo(timezone)
    stored = 0
    for ch in changes:
        op, aid = ch.get("op"), int(ch.get("appointment_id") or 0)
        try:
            if op == "confirm":
                await records.invoke(lambda r: r.appointments.confirm_appointment, access, aid, "phone")
            elif op == "cancel":
                await records.invoke(lambda r: r.appointments.cancel_appointment, access, aid, late=bool(ch.get("late")),
                                  deposit=str(ch.get("deposit") or "none"), via="phone")
            elif op == "move":
                start = datetime.fromisoformat(str(ch["start"])).replace(tzinfo=tz)
                end = start + timedelta(minutes=int(ch["minutes"]))
                await records.invoke(lambda r: r.bookings.move_appointment, access, aid, start, end)
            else:
                continue
            stored += 1
        except Exception as e:  # noqa: BLE001  (one refused change must not stop the others)
            log.warning("call.appointment_change_failed", op=op, error=type(e).__name__,
                        call_id=hostile(access.call_id or ""))
            esc = Escalation("routine", "appointment-change-failed", turn, f"{op} of appointment {aid}: {type(e).__name__}")
            try:
                await records.run(Records.record_escalation, access, call_key, esc)
            except Exception:  # noqa: BLE001
                log.exception("call.appointment_change_escalation_failed", call_id=hostile(access.call_id or ""))
    return stored
