"""The console's view of the shared record store (appliance.records).

Every call runs on the record store's single writer thread (never on the event loop). This
layer only adapts: who acts (a console user name becomes the audit actor `staff:<name>`),
and times (the store keeps ISO 8601 UTC text; the console's pages, API and charts use Unix
seconds). Storage, the audit chain and the outbox are the record store's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.records.audit import Access
from appliance.records.base import iso_ts
from appliance.records.relay import RecordsOutbox
from appliance.records.service import AsyncRecords
from appliance.records.store import Records
from appliance.staff.metrics import OUTCOME_DAYS, WEEK_S, WEEKS, Families, compute_metrics

Row = dict[str, Any]

TIME_FIELDS = ("created_at", "deadline_at", "acknowledged_at", "resolved_at", "reviewed_at", "started_at",
               "starts_at", "treated_at", "review_due_at", "next_contact_at", "confirmed_at", "cancelled_at", "marked_at",
               "next_booking_at")


def ts(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _times(row: Row) -> Row:
    for k in TIME_FIELDS:
        if isinstance(row.get(k), str):
            row[k] = ts(row[k])
    follow_up = row.get("follow_up")
    if isinstance(follow_up, dict):  # an escalation's concern follow-up call
        for k in ("call_at", "done_at"):
            if isinstance(follow_up.get(k), str):
                follow_up[k] = ts(follow_up[k])
    return row


def access(actor: str, reason: str = "console") -> Access:
    """A console user name acts as `staff:<name>`; `system:...` and other prefixed actors as given."""
    return Access(actor if ":" in actor else f"staff:{actor}", reason)


class StaffRepo(RecordsOutbox):
    def __init__(self, records: AsyncRecords, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(records)
        self.clock = clock
        self.families = Families()  # the pack's procedure families (the console sets them at start)

    async def close(self) -> None:
        await self.records.close()

    # -- accounts ----------------------------------------------------------------------------
    async def add_user(self, *, username: str, display_name: str, role: str, pw_hash: str,
                       extension: str | None, actor: str) -> int:
        return await self.records.invoke(lambda r: r.users.add_staff_user, access(actor, "accounts"), username,
                                         display_name, role, pw_hash, extension)

    async def set_password(self, username: str, pw_hash: str, actor: str) -> None:
        await self.records.invoke(lambda r: r.users.set_staff_password, access(actor, "accounts"), username, pw_hash)

    async def user(self, username: str) -> Row | None:
        return await self.records.invoke(lambda r: r.users.staff_user, username)

    async def users(self) -> list[Row]:
        return await self.records.invoke(lambda r: r.users.staff_users)

    async def has_users(self) -> bool:
        return await self.records.invoke(lambda r: r.users.has_staff_users)

    async def record(self, actor: str, action: str, subject: str) -> None:
        """An audit event with no other change (log-in, log-off, refused log-in)."""
        await self.records.run(Records.record_event, access(actor), action, subject)

    async def audit_events(self, limit: int = 200) -> list[Row]:
        return await self.records.run(Records.audit_events, limit)

    # -- calls and escalations ----------------------------------------------------------------
    async def live_calls(self, actor: str) -> list[Row]:
        return [_times(row) for row in await self.records.invoke(lambda r: r.queue.live_calls, access(actor))]

    async def escalations(self, actor: str, *, include_resolved: bool = False) -> list[Row]:
        rows = await self.records.invoke(lambda r: r.queue.escalation_queue, access(actor), include_resolved)
        return [_times(row) for row in rows]

    async def escalation(self, eid: int, actor: str | None) -> Row:
        return _times(await self.records.invoke(lambda r: r.queue.escalation, access(actor) if actor else None, eid))

    async def acknowledge(self, eid: int, actor: str) -> Row:
        return _times(await self.records.invoke(lambda r: r.queue.acknowledge_escalation, access(actor), eid, actor))

    async def resolve(self, eid: int, actor: str, note: str, follow_up: Any = None) -> Row:
        """Resolve with a note; `follow_up` (the pack's concern follow-up plan) schedules the
        follow-up call of a concern, in the same transaction."""
        return _times(await self.records.invoke(lambda r: r.queue.resolve_escalation, access(actor), eid, actor, note, follow_up))

    async def mark_paged(self, eid: int, target: str, level: int) -> None:
        paging = Access("system:paging", "escalation-paging")
        await self.records.invoke(lambda r: r.queue.mark_escalation_paged, paging, eid, target, level)

    # -- summaries, appointments, aftercare ---------------------------------------------------
    async def summaries(self, actor: str) -> list[Row]:
        rows = await self.records.invoke(lambda r: r.review.summaries_for_review, access(actor))
        return [_times({k: v for k, v in r.items() if k != "summary"}) for r in rows]

    async def summary(self, sid: int, actor: str) -> Row:
        return _times(await self.records.invoke(lambda r: r.review.summary_for_review, access(actor), sid))

    async def review_summary(self, sid: int, actor: str, text: str, *, finalize: bool) -> Row:
        await self.records.invoke(lambda r: r.review.review_summary, access(actor), sid, actor, text, finalize=finalize)
        return await self.summary(sid, actor)

    async def appointments(self, actor: str) -> list[Row]:
        return [_times(row) for row in await self.records.invoke(lambda r: r.followups.appointment_list, access(actor))]

    async def appointment_days(self, actor: str, since: float, until: float) -> list[Row]:
        """The appointments starting in [since, until) (Unix seconds), with their outcomes."""
        rows = await self.records.invoke(lambda r: r.appointments.appointments_between, access(actor), _utc(since), _utc(until))
        return [_times(r) for r in rows]

    async def mark_appointment(self, aid: int, status: str, actor: str, no_show_deposit: str | None = None) -> None:
        """The signed-in user marks the patient arrived (`completed`) or a no-show (with the
        policy's deposit outcome for a missed appointment, when the pack has a policy)."""
        await self.records.invoke(lambda r: r.appointments.mark_appointment, access(actor), aid, status, actor, no_show_deposit)

    async def appointment_rates(self, actor: str, now: float, days: int = OUTCOME_DAYS) -> dict[str, Any]:
        """Appointment counts and rates of the last `days` days (aggregates only)."""
        until = _utc(now)
        return await self.records.invoke(lambda r: r.appointments.appointment_rates, access(actor),
                                         until - timedelta(days=days), until)

    async def aftercare(self, actor: str) -> list[Row]:
        return [_times(row) for row in await self.records.invoke(lambda r: r.followups.aftercare_pipeline, access(actor))]

    async def metrics(self, now: float, weeks: int = WEEKS, actor: str = "system:console") -> dict[str, Any]:
        """The workflow-quality measures, overall and per procedure family (aggregates only)."""
        since = iso_ts(now - weeks * WEEK_S)
        rows = await self.records.invoke(lambda r: r.quality.workflow_quality_rows, access(actor, "dashboard"), since)
        return compute_metrics({k: [_times(r) for r in v] for k, v in rows.items()}, now, weeks, self.families)

    async def export_data(self, actor: str, fmt: str) -> dict[str, list[Row]]:
        data = await self.records.invoke(lambda r: r.followups.export_rows, access(actor, "export"), fmt)
        return {k: [_times(r) for r in v] for k, v in data.items()}

    # -- the outbox, per endpoint (due, delivered, failed: RecordsOutbox's) ---------------------
    async def set_endpoints(self, names: list[str]) -> list[str]:
        return await self.records.run(Records.outbox_set_endpoints, names, self.clock())

    async def outbox_undelivered(self, endpoint: str | None = None) -> int:
        return await self.records.run(Records.outbox_undelivered, endpoint)
