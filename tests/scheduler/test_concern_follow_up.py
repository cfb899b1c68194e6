"""Concern follow-ups on the real encrypted store: resolving a concern's escalation plans the call
(once, only with a callable number), and the desk runner places it when due (fake clock) with the
production handler and the real follow-up conversation; the patient's side is played as text turns
and key presses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from appliance.clinic.pack import Pack
from appliance.conversation import Escalation
from appliance.records.errors import ConflictError
from appliance.records.service import AsyncRecords
from appliance.records.store import Records
from appliance.scheduler.desk_runner import follow_up_plan
from appliance.scheduler.setup import policy_from
from tests.scheduler.conftest import STAFF
from tests.scheduler.test_desk_calls import OPEN, run_once, settle

IDENTITY = ("This is Dana Lee", "April 12th 1985")


async def raised(records: AsyncRecords, *, caller: str, patient_phone: str | None = "+1 555 010 2233",
                 severity: str = "emergency", category: str = "vascular-compromise",
                 detail: str = "fi-rf-blanching", key: str = "in-1") -> int:
    """An inbound call that raised an escalation; the escalation's id."""
    def write(r: Any) -> int:
        pid = r.add_patient(STAFF, "Dana Lee", patient_phone, dob="1985-04-12") if patient_phone else None
        r.start_call(STAFF, key, "inbound", caller, patient_id=pid, key=key)
        r.record_escalation(STAFF, key, Escalation(severity, category, 1, detail, "heard: lip white"))
        return int(r.conn.execute("SELECT max(id) FROM escalations").fetchone()[0])
    return await records.run(write)


async def follow_up_rows(records: AsyncRecords) -> list[tuple[Any, ...]]:
    return await records.run(lambda r: [tuple(x) for x in r.conn.execute(
        "SELECT escalation_id, kind, state, disposition, phone, due_at, next_at FROM desk_contacts ORDER BY id")])


async def test_resolving_a_concern_plans_one_follow_up_after_the_packs_hours_within_call_times(
        db: tuple[Path, bytes], pack: Pack) -> None:
    records = AsyncRecords(db[0], db[1])
    await records.open()
    plan = follow_up_plan(pack, OPEN)
    try:
        eid = await raised(records, caller="anonymous")  # a withheld number, but the patient's record has one
        before = datetime.now(UTC)
        row = await records.invoke(lambda r: r.queue.resolve_escalation, STAFF, eid, "nina", "called her, settled", plan)
        with pytest.raises(ConflictError):
            await records.invoke(lambda r: r.queue.resolve_escalation, STAFF, eid, "nina", "again", plan)
        rows = await follow_up_rows(records)
        audit = await records.run(lambda r: [x[0] for x in r.conn.execute(
            "SELECT action FROM audit_events WHERE action = 'desk_contact.create'")])
    finally:
        await records.close()
    assert len(rows) == 1, rows  # resolving twice plans once
    esc_id, kind, state, disposition, phone, due_at, next_at = rows[0]
    assert (esc_id, kind, state, disposition, phone) == (eid, "concern_follow_up", "due", None, "+1 555 010 2233")
    due, nxt = datetime.fromisoformat(due_at), datetime.fromisoformat(next_at)
    assert abs((due - before).total_seconds() - 24 * 3600) < 60  # the demo pack: after_hours 24
    assert policy_from(pack, OPEN).next_allowed(due) == nxt  # the first allowed call time from then (clinic hours)
    assert row["follow_up"]["state"] == "due" and row["follow_up"]["call_at"] == next_at
    assert audit == ["desk_contact.create"]


async def test_no_follow_up_without_a_callable_number_or_for_what_is_not_a_concern(
        db: tuple[Path, bytes], pack: Pack) -> None:
    records = AsyncRecords(db[0], db[1])
    await records.open()
    plan = follow_up_plan(pack, OPEN)
    try:
        withheld = await raised(records, caller="anonymous", patient_phone=None, key="in-1")
        extension = await raised(records, caller="2101", patient_phone=None, key="in-2")
        booking = await raised(records, caller="5550107901", patient_phone=None, severity="routine",
                               category="booking-conflict", detail="slot taken", key="in-3")
        caller_only = await raised(records, caller="5550107902", patient_phone=None, key="in-4")
        for eid in (withheld, extension, booking, caller_only):
            await records.invoke(lambda r: r.queue.resolve_escalation, STAFF, eid, "nina", "done", plan)
        queue = await records.invoke(lambda r: r.queue.escalation_queue, STAFF, True)
    finally:
        await records.close()
    assert [r[0] for r in await _rows_after(db)] == [caller_only]  # the caller's number on the call is called
    shown = {r["id"]: r["follow_up"] for r in queue}
    assert shown[withheld] is None and shown[extension] is None and shown[booking] is None
    assert shown[caller_only]["state"] == "due"


async def _rows_after(db: tuple[Path, bytes]) -> list[tuple[Any, ...]]:
    records = AsyncRecords(db[0], db[1])
    await records.open()
    try:
        return await follow_up_rows(records)
    finally:
        await records.close()


async def call_follow_up(db: tuple[Path, bytes], pack: Pack, turns: tuple[str, ...]
                         ) -> tuple[int, dict[str, Any], list[dict[str, Any]], list[str], list[str]]:
    """Resolve a concern, then run the desk runner at the planned call time with the patient's
    turns: (the escalation's id, its row afterwards, every escalation, the numbers dialled, the
    follow-up call's agent lines)."""
    records = AsyncRecords(db[0], db[1])
    await records.open()
    try:
        eid = await raised(records, caller="+1 555 010 2233")
        row = await records.invoke(lambda r: r.queue.resolve_escalation, STAFF, eid, "nina", "saw her, settled",
                                   follow_up_plan(pack, OPEN))
        call_at = datetime.fromisoformat(row["follow_up"]["call_at"])
        clock = [call_at - timedelta(minutes=1)]
        runner, dialer = await run_once(db, pack, records, turns, clock)
        try:
            assert await runner.tick() == 0  # not due before its time
            clock[0] = call_at
            assert await runner.tick() == 1  # claimed when due, and placed
            await settle(runner)
        finally:
            await runner.stop()
        after = await records.invoke(lambda r: r.queue.escalation, STAFF, eid)
        every = await records.invoke(lambda r: r.queue.escalation_queue, STAFF, True)
        lines = await records.run(lambda r: [x[0] for x in r.conn.execute(
            "SELECT t.provenance FROM turns t JOIN calls c ON c.id = t.call_id WHERE c.direction = 'outbound' "
            "AND t.speaker = 'agent' ORDER BY t.idx")])
    finally:
        await records.close()
    return eid, after, every, dialer.dialled, lines



async def test_better_is_recorded_and_closes_the_loop_with_nothing_sold(db: tuple[Path, bytes], pack: Pack) -> None:
    eid, after, every, dialled, lines = await call_follow_up(db, pack, (*IDENTITY, "It's a lot better now, thanks"))
    assert dialled == ["+15550102233"]
    fu = after["follow_up"]
    assert (fu["state"], fu["outcome"], fu["escalated_again"]) == ("completed", "better", [])
    assert [r["id"] for r in every] == [eid]  # no new escalation
    ids = [p.split("#")[1] for p in lines]
    assert ids[-4:] == ["outbound.concern_follow_up.intro", "outbound.concern_follow_up.ask",
                        "outbound.concern_follow_up.better", "outbound.concern_follow_up.closing"]
    assert not any("offer" in i or "book" in i for i in ids)  # nothing offered or sold on this call


async def test_worse_is_escalated_again_on_the_paging_path(db: tuple[Path, bytes], pack: Pack) -> None:
    eid, after, every, _, lines = await call_follow_up(db, pack, (*IDENTITY, "Honestly it's worse"))
    fu = after["follow_up"]
    new = [r for r in every if r["id"] != eid]
    assert (fu["state"], fu["outcome"]) == ("completed", "worse")
    assert len(new) == 1 and fu["escalated_again"] == [new[0]["id"]]
    assert (new[0]["severity"], new[0]["category"], new[0]["status"]) == ("urgent", "concern-follow-up", "open")
    assert lines[-2].endswith("#outbound.concern_follow_up.same_or_worse")


async def test_the_same_by_key_press_is_escalated_again(db: tuple[Path, bytes], pack: Pack) -> None:
    eid, after, every, _, _ = await call_follow_up(db, pack, (*IDENTITY, "#2"))
    assert after["follow_up"]["outcome"] == "same"
    assert [r["category"] for r in every if r["id"] != eid] == ["concern-follow-up"]


async def test_a_red_flag_in_the_middle_gets_the_emergency_line_and_an_escalation(
        db: tuple[Path, bytes], pack: Pack) -> None:
    eid, after, every, _, lines = await call_follow_up(
        db, pack, ("This is Dana Lee", "April 12th 1985", "Well, part of my lip has gone white and cold"))
    new = [r for r in every if r["id"] != eid]
    assert after["follow_up"]["outcome"] == "red-flag"
    assert [r["severity"] for r in new] == ["emergency"]
    assert new[0]["detail"] in {f.id for f, _ in pack.all_red_flags()}  # the pack's red flag, not the answer
    assert after["follow_up"]["escalated_again"] == [new[0]["id"]]
    assert lines[-1].split("#")[1] in ("dialogue.escalate_emergency", new[0]["detail"]), lines  # the emergency line


async def test_the_outbox_carries_the_new_escalation_to_the_pager(db: tuple[Path, bytes], pack: Pack) -> None:
    await call_follow_up(db, pack, (*IDENTITY, "worse"))
    records = AsyncRecords(db[0], db[1])
    await records.open()
    try:
        msgs = await records.run(Records.outbox_pending, STAFF, 100, "escalation.raised")
    finally:
        await records.close()
    assert [m.payload["severity"] for m in msgs] == ["emergency", "urgent"]  # the first concern, then the follow-up's
