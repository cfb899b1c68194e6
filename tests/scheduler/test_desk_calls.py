"""Front-desk calls through the runner and the production handler, on the real encrypted store
with the real reminder and call-back conversations; the patient's side is played as text turns
and key presses (the voice path over SIP: tests/integration/test_desk_calls.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from appliance.calls import CallInfo
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import Pack
from appliance.clinic.schedule import InMemoryBookingStore, Scheduler
from appliance.config import OutboundSettings
from appliance.conversation import Conversation, ConversationOutcome, Turn
from appliance.records.service import AsyncRecords
from appliance.records.store import Records
from appliance.scheduler.desk_calls import DeskCallHandler
from appliance.scheduler.desk_runner import DeskRunner, open_desk_store
from tests.scheduler.conftest import STAFF

WEDNESDAY = datetime(2030, 3, 13, 12, tzinfo=ZoneInfo("America/Los_Angeles"))  # the demo clinic open 9-18
OPEN = OutboundSettings(quiet_start="00:00", quiet_end="00:00", closing_margin_minutes=0, poll_seconds=3600)


class Media:
    def __init__(self, number: str) -> None:
        self.info = CallInfo(call_id=f"desk-{number}", direction="outbound", remote_number=number)


class Placed:
    def __init__(self, number: str) -> None:
        self.outcome, self.call = "answered", Media(number)


class Dialer:
    def __init__(self) -> None:
        self.dialled: list[str] = []

    async def place_call(self, target: str, *, timeout_s: float = 30.0) -> Any:
        self.dialled.append(target)
        return Placed(target)


def patient(*turns: str) -> Any:
    async def run(media: Any, conv: Conversation) -> tuple[ConversationOutcome, str]:
        conv.start()
        for t in turns:
            if t.startswith("#"):
                await conv.caller_pressed(t[1:])
            else:
                await conv.caller_said(t)
        return conv.ended("remote-bye"), "remote-bye"

    return run


async def run_once(db: tuple[Path, bytes], pack: Pack, records: AsyncRecords, turns: tuple[str, ...],
                   clock: list[datetime]) -> tuple[DeskRunner, Dialer]:
    dialer = Dialer()
    handler = DeskCallHandler(pack, load_lines(pack), patient(*turns), records=records,
                              scheduler=Scheduler(pack.clinic, InMemoryBookingStore()))
    runner = DeskRunner(lambda: open_desk_store(db[0], db[1], pack, OPEN), dialer, handler, OPEN,
                        clock=lambda: clock[0])
    await runner.start()
    return runner, dialer


async def settle(runner: DeskRunner) -> None:
    tasks = [*runner._calls, *runner._pending]  # noqa: SLF001
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), 20)


async def test_a_reminder_confirmed_by_key_press_is_stored(db: tuple[Path, bytes], pack: Pack) -> None:
    records = AsyncRecords(db[0], db[1])
    await records.open()
    start = WEDNESDAY.replace(hour=15)  # the clinic is open two hours before
    pid = await records.run(Records.add_patient, STAFF, "Dana Lee", "+1 555 010 2233", dob="1985-04-12")
    aid = await records.run(Records.book_appointment, STAFF, pid, "np-rivera", start, start + timedelta(minutes=30))
    clock = [start - timedelta(hours=2, minutes=1)]
    runner, dialer = await run_once(db, pack, records, ("This is Dana Lee", "April 12th 1985", "#1"), clock)
    try:
        assert await runner.tick() == 0  # planned: the 2-hour reminder (48 hours before was past at booking)
        clock[0] = start - timedelta(hours=2)
        assert await runner.tick() == 1
        await settle(runner)
        row = await records.run(lambda r: r.conn.execute(
            "SELECT status, confirmed_at IS NOT NULL, confirmed_via FROM appointments WHERE id = ?", (aid,)).fetchone())
        contact = await records.run(lambda r: r.conn.execute(
            "SELECT lead_hours, state, disposition, call_id FROM desk_contacts WHERE appointment_id = ?",
            (aid,)).fetchall())
        call = await records.run(lambda r: r.conn.execute("SELECT direction, patient_id FROM calls").fetchall())
    finally:
        await runner.stop()
        await records.close()
    assert dialer.dialled == ["+15550102233"]
    assert tuple(row) == ("booked", 1, "phone")
    assert [tuple(c)[:3] for c in contact] == [(2, "completed", "confirmed")] and contact[0][3] is not None
    assert [tuple(c) for c in call] == [("outbound", pid)]


async def test_a_silent_caller_is_called_back_with_the_call_back_greeting(db: tuple[Path, bytes], pack: Pack) -> None:
    records = AsyncRecords(db[0], db[1])
    await records.open()
    now = WEDNESDAY
    clock = [now]
    runner, dialer = await run_once(db, pack, records, ("Hi, you called me?",), clock)
    try:
        silent = ConversationOutcome(outcome="hung-up", turns=[Turn("agent", "Hello"), Turn("caller", "")])
        talked = ConversationOutcome(outcome="info", turns=[Turn("caller", "what are your hours")])
        info = CallInfo(call_id="in-1", direction="inbound", remote_number="5550107901")
        await runner.call_ended(info, silent)
        await runner.call_ended(CallInfo(call_id="in-2", direction="inbound", remote_number="anonymous"), silent)
        runner.busy("2101")  # an extension: never called back
        await settle(runner)
        assert await runner.tick() == 0  # the 2-minute delay
        clock[0] = now + timedelta(minutes=2)
        assert await runner.tick() == 1
        await settle(runner)
        await runner.call_ended(info, silent)  # called back already: a new missed call plans a new one ...
        await settle(runner)
        await runner.call_ended(info, talked)  # ... which the caller's next call, with words, cancels
        await settle(runner)
        contacts = await records.run(lambda r: [tuple(x) for x in r.conn.execute(
            "SELECT kind, reason, state, disposition FROM desk_contacts ORDER BY id")])
        first = await records.run(lambda r: r.conn.execute(
            "SELECT t.provenance FROM turns t JOIN calls c ON c.id = t.call_id WHERE c.direction = 'outbound' "
            "ORDER BY t.idx LIMIT 1").fetchone())
    finally:
        await runner.stop()
        await records.close()
    assert dialer.dialled == ["5550107901"]
    assert contacts == [("callback", "silent", "completed", "reached"), ("callback", "silent", "cancelled", "called-again")]
    assert first[0].endswith("#dialogue.greeting_callback"), first
