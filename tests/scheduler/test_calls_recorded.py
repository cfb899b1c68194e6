"""Outbound calls in the record store: the production handler keeps each answered aftercare call
as an outbound `calls` row with its turns, summary and escalations (the escalation stored when it
is raised, before hang-up), on the real encrypted database with the real outbound conversation.

The patient's side is played as text turns here (the voice path is covered end to end over SIP
in tests/integration/test_aftercare_call.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from appliance.calls import CallInfo
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import Pack
from appliance.config import PathSettings, Settings
from appliance.conversation import Conversation, ConversationOutcome
from appliance.records.service import AsyncRecords
from appliance.scheduler.calls import OutboundCallHandler
from appliance.scheduler.store import Claim, ScheduleStore
from tests.scheduler.conftest import STAFF, SYSTEM, treatment


class Media:
    def __init__(self, call_id: str) -> None:
        self.info = CallInfo(call_id=call_id, direction="outbound", remote_number="15550102233")


def claim_one(store: ScheduleStore, pack: Pack) -> Claim:
    today = datetime.now(ZoneInfo(pack.clinic.timezone)).date()
    plan = store.record_treatment(STAFF, treatment(treated_on=today - timedelta(days=1)),
                                  datetime.now(ZoneInfo(pack.clinic.timezone)) - timedelta(days=1))
    first = store.contacts(STAFF, plan_id=plan)[0]
    (claim,) = store.claim_due(SYSTEM, datetime.fromisoformat(first["next_at"]), "w1", timedelta(minutes=5), 1)
    return claim


def rows(store: ScheduleStore, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.conn.execute(sql).fetchall()]


async def test_escalated_call_is_an_outbound_call_with_turns_summary_and_escalation(
        store: ScheduleStore, db: tuple[Path, bytes], pack: Pack) -> None:
    claim = claim_one(store, pack)
    records = AsyncRecords(db[0], db[1])
    await records.open()
    during: list[list[tuple[Any, ...]]] = []

    async def patient(media: Any, conv: Conversation) -> tuple[ConversationOutcome, str]:
        conv.start()
        for said in ("This is Dana Lee", "April 12th 1985", "yes, my eyelid is drooping since yesterday"):
            await conv.caller_said(said)
        during.append(await records.run(lambda r: [tuple(x) for x in r.conn.execute(
            "SELECT e.severity, e.category, c.direction FROM escalations e JOIN calls c ON c.id = e.call_id")]))
        return conv.ended("remote-bye"), "remote-bye"

    try:
        handler = OutboundCallHandler(pack, load_lines(pack), patient, records=records)
        result = await handler(claim, Media("out-call-1"))
    finally:
        await records.close()
    assert during == [[("urgent", "eyelid-or-vision", "outbound")]]  # stored when raised, not at hang-up
    assert (result.result, result.disposition) == ("answered", "completed")
    assert result.flags["escalated"] and result.flags["reached"] and result.call_row_id is not None
    (call,) = rows(store, "SELECT id, pbx_call_id, direction, patient_id, outcome, end_reason, ended_at IS NOT NULL "
                          "FROM calls")
    assert call == (result.call_row_id, "out-call-1", "outbound", claim.patient_id, "escalated", "remote-bye", 1)
    assert len(rows(store, "SELECT 1 FROM escalations")) == 1  # the post-call save does not add it twice
    turns = rows(store, "SELECT speaker, provenance FROM turns ORDER BY idx")
    assert turns[0] == ("agent", "demo-clinic@2025.1#outbound.opener")
    assert sum(1 for t in turns if t[0] == "caller") == 3
    assert rows(store, "SELECT count(*) FROM call_summaries") == [(1,)]
    assert store.finish(SYSTEM, claim, result, datetime.fromisoformat(claim_time(store, claim))) == "completed"
    contact = store.contacts(STAFF, plan_id=claim.plan_id)[0]
    assert (contact["call_id"], contact["escalated"], contact["concern"]) == (result.call_row_id, 1, 1)


def claim_time(store: ScheduleStore, claim: Claim) -> str:
    return str(store.conn.execute("SELECT lease_until FROM aftercare_contacts WHERE id = ?",
                                  (claim.contact_id,)).fetchone()[0])


async def test_handler_opens_and_closes_the_store_itself(store: ScheduleStore, db: tuple[Path, bytes], pack: Pack,
                                                         tmp_path: Path) -> None:
    """Without the service's record store, the handler opens the configured database on the
    first call and closes it when the scheduler stops."""
    claim = claim_one(store, pack)
    settings = Settings(paths=PathSettings(data_dir=tmp_path))
    assert settings.db_path == db[0]

    async def patient(media: Any, conv: Conversation) -> tuple[ConversationOutcome, str]:
        conv.start()
        for said in ("This is Dana Lee", "it's April 12th 1985", "no"):
            await conv.caller_said(said)
        return conv.ended("remote-bye"), "remote-bye"

    handler = OutboundCallHandler(pack, load_lines(pack), patient, settings=settings)
    try:
        result = await handler(claim, Media("out-call-2"))
    finally:
        await handler.aclose()
    assert handler._own is None  # noqa: SLF001 - closed
    assert (result.disposition, result.flags["escalated"], result.flags["delivered"]) == ("completed", False, True)
    (call,) = rows(store, "SELECT pbx_call_id, direction, outcome, end_reason FROM calls")
    assert call[:2] == ("out-call-2", "outbound") and call[3] == "remote-bye", call
    assert rows(store, "SELECT count(*) FROM escalations") == [(0,)]
    assert rows(store, "SELECT count(*) FROM call_summaries") == [(1,)]


async def test_an_answered_aftercare_call_is_live_on_a_line_while_it_lasts(
        store: ScheduleStore, db: tuple[Path, bytes], pack: Pack) -> None:
    """The pager finds the patient of an outbound call's escalation by the live-call registry, so it
    can brief "patient on line 1" and connect the clinician, as for an inbound call."""
    from appliance.live.registry import LiveCalls

    claim = claim_one(store, pack)
    records = AsyncRecords(db[0], db[1])
    await records.open()
    live = LiveCalls()
    seen: list[Any] = []

    async def patient(media: Any, conv: Conversation) -> tuple[ConversationOutcome, str]:
        conv.start()
        for said in ("This is Dana Lee", "April 12th 1985", "yes, my eyelid is drooping since yesterday"):
            await conv.caller_said(said)
        (entry,) = live.with_call_id("out-call-2")
        seen.append((entry.line, entry.ended, media is entry.media))
        seen.append(await records.run(lambda r: [tuple(x) for x in r.conn.execute(
            "SELECT c.line, e.created_at, e.deadline_at FROM escalations e JOIN calls c ON c.id = e.call_id")]))
        return conv.ended("remote-bye"), "remote-bye"

    try:
        handler = OutboundCallHandler(pack, load_lines(pack), patient, records=records, live=live)
        await handler(claim, Media("out-call-2"))
    finally:
        await records.close()
    assert seen[0] == ("1", False, True)  # on line 1, and the session talks over the call's own media
    [(line, created, due)] = seen[1]
    assert line == "1"  # the console shows the line
    # The deadline follows the pack's target for this red flag (Botox, urgent: 30 min), not the default 15.
    assert datetime.fromisoformat(due) - datetime.fromisoformat(created) == timedelta(minutes=30)
    assert live.with_call_id("out-call-2") == [] and live.active == 0  # gone from the registry at hang-up
