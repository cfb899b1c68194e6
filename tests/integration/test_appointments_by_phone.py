"""Existing appointments by phone, as real calls: kamailio as the clinic PBX, the appliance
registered as extension 2100 (`appliance run`), a reactive SIP caller dialling 2100 through
kamailio, speaking each turn (Piper through G.711) and waiting for the appliance's reply.

The patients and their appointments are written to the appliance's encrypted store while it
runs (as staff or the appointment import would); afterwards the test reads the store: the
appointment's status, lateness, deposit outcome, time and confirmation, and the outbox message
staff systems receive. One call each: confirm, cancel with notice, cancel late, and a move
by a caller from a number the appliance does not know (found by name and date of birth), and
clinic facts asked at three steps of one call (the open question, a slot offer, "anything else").
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from benchmarks.dialogue import CallResult, Timing, run_call
from benchmarks.scripts import Script, Step, clips_for
from tests.foundation.helpers import ApplianceProcess
from tests.integration.test_emergencies_by_phone import _wait_finished
from tests.integration.test_phone_call import EXTENSION, appliance_config
from tests.telephony.peers import kamailio

pytestmark = [pytest.mark.models, pytest.mark.slow]

PACK = "demo-clinic@2025.1#"
CALLS_AT_ONCE = 3  # three lines busy at a time: the caller moving an appointment and the one asking
# facts can overlap, and each is offered its own time (a slot offered on one call is held from the others)
TZ = ZoneInfo("America/Los_Angeles")  # the demo clinic's


@dataclass(frozen=True)
class Patient:
    name: str
    phone: str
    dob: str
    days_ahead: float  # the appointment, from now
    deposit_cents: int


PATIENTS = {
    "confirm": Patient("Lisa Brown", "5550107301", "1979-06-14", 6, 0),
    "cancel": Patient("Dana Lee", "5550107302", "1985-03-03", 7, 5000),
    "late": Patient("Maria Lopez", "5550107303", "1990-11-20", 0.8, 10000),
    "move": Patient("Mary Johnson", "5550107304", "1972-04-02", 8, 0),
    "facts": Patient("Chris Walker", "5550107305", "1968-09-09", 9, 0),
}
CALLER_NUMBER = {"confirm": "5550107301", "cancel": "5550107302", "late": "5550107303",
                 "move": "5550107999", "facts": "5550107305"}  # the move: a phone the appliance does not know
SCRIPTS = {
    "confirm": Script("confirm", (Step("Hi, I'm calling to confirm my appointment."),)),
    "cancel": Script("cancel", (Step("Hello, I need to cancel my appointment next week."), Step("Yes, please."))),
    "late": Script("late", (Step("Hi, I have to cancel my appointment, something came up."),
                            Step("Yes, please cancel it."))),
    "move": Script("move", (Step("Hi, I need to reschedule my appointment."), Step("Mary Johnson."),
                            Step("April second, nineteen seventy two."), Step("Yes, that works."))),
    "facts": Script("facts", (Step("Hi, what time do you close on Saturdays?"),
                              Step("I need to move my appointment."), Step("Where do I park?"),
                              Step("Yes, that works."), Step("Do you take credit cards?"))),
}  # each call ends when the caller hangs up after the last reply ("Is there anything else ...?")


def _seed(var: Path) -> dict[str, int]:
    """The patients and their booked appointments, written through the store's own methods."""
    from appliance.records.audit import Access
    from appliance.records.keys import read_key
    from appliance.records.store import Records

    r = Records.open(var / "appliance.db", read_key(var / "secrets" / "db.key"))
    staff = Access(actor="staff:test", reason="seed")
    ids: dict[str, int] = {}
    try:
        for name, p in PATIENTS.items():
            pid = r.add_patient(staff, p.name, p.phone, dob=p.dob)
            start = (datetime.now(TZ) + timedelta(days=p.days_ahead)).replace(minute=0, second=0, microsecond=0)
            aid = r.book_appointment(staff, pid, "np-rivera", start, start + timedelta(minutes=30), procedure="botox")
            if p.deposit_cents:
                r.conn.execute("INSERT INTO deposits (patient_id, appointment_id, amount_cents, currency, status, "
                               "created_at) VALUES (?, ?, ?, 'USD', 'paid', ?)",
                               (pid, aid, p.deposit_cents, datetime.now(UTC).isoformat()))
            ids[name] = aid
    finally:
        r.close()
    return ids


def _read(var: Path, ids: dict[str, int]) -> dict[str, Any]:
    from appliance.records.db import connect
    from appliance.records.keys import read_key

    conn = connect(var / "appliance.db", read_key(var / "secrets" / "db.key"), create=False)
    try:
        out: dict[str, Any] = {}
        for name, aid in ids.items():
            row = conn.execute("SELECT status, slot_start, confirmed_at, confirmed_via, cancel_late, deposit_outcome, "
                               "changed_via FROM appointments WHERE id = ?", (aid,)).fetchone()
            out[name] = dict(zip(("status", "slot_start", "confirmed_at", "confirmed_via", "cancel_late",
                                  "deposit_outcome", "changed_via"), row, strict=True))
        out["outbox"] = [(t, json.loads(p)) for t, p in conn.execute("SELECT topic, payload FROM outbox ORDER BY seq")]
        out["turns"] = [tuple(r) for r in conn.execute(
            "SELECT c.caller_number, t.speaker, t.text, t.provenance FROM turns t JOIN calls c ON c.id = t.call_id "
            "ORDER BY t.call_id, t.idx")]
        return out
    finally:
        conn.close()


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_calls(tmp_path_factory.mktemp("appointments-by-phone")))


async def _calls(work: Path) -> dict[str, Any]:
    clips = await asyncio.to_thread(clips_for, list(SCRIPTS.values()), work / "clips")
    timing = Timing(reply_timeout_s=60.0, listen_timeout_s=120.0)
    results: dict[str, CallResult | BaseException] = {}
    async with kamailio(work) as kport:
        app = ApplianceProcess(appliance_config(work, kport))
        try:
            await asyncio.to_thread(app.wait_event, "appliance.ready", 240)
            await asyncio.to_thread(app.wait_event, "sip.registered", 30)
            before = {k: v for k, v in (await asyncio.to_thread(_seed, work / "var")).items()}
            start_rows = await asyncio.to_thread(_read, work / "var", before)
            lines = asyncio.Semaphore(CALLS_AT_ONCE)

            async def one(name: str) -> None:
                async with lines:
                    try:
                        results[name] = await asyncio.to_thread(
                            run_call, "appliance", kport, SCRIPTS[name], clips, greets=True, timing=timing,
                            number=CALLER_NUMBER[name], to_user=EXTENSION)
                    except BaseException as e:  # noqa: BLE001  (reported by that call's test)
                        results[name] = e

            await asyncio.gather(*(one(name) for name in SCRIPTS))
            await asyncio.to_thread(_wait_finished, app, len(SCRIPTS), 60)
            code, _ = app.stop()
        finally:
            app.kill()
    assert code == 0, "".join(app.raw[-40:])
    out = await asyncio.to_thread(_read, work / "var", before)
    out["before"] = start_rows
    out["ids"] = before
    out["results"] = results
    for t in out["turns"]:
        print(t)
    return out


def _call_ok(stored: dict[str, Any], name: str) -> None:
    r = stored["results"][name]
    if isinstance(r, BaseException):
        raise AssertionError(f"{name}: the call failed: {r}") from r


def _said(stored: dict[str, Any], name: str) -> list[str]:
    """The provenance of what the agent said on that call (by the caller's number)."""
    number = CALLER_NUMBER[name]
    return [p.removeprefix(PACK) for num, who, _, p in stored["turns"] if who == "agent" and p and num.endswith(number)]


def test_a_known_caller_confirms_their_appointment(stored: dict[str, Any]) -> None:
    _call_ok(stored, "confirm")
    row = stored["confirm"]
    assert row["status"] == "booked" and row["confirmed_at"] and row["confirmed_via"] == "phone", row
    assert "dialogue.appt_confirmed" in _said(stored, "confirm"), _said(stored, "confirm")


def test_a_cancellation_with_notice_refunds_the_deposit(stored: dict[str, Any]) -> None:
    _call_ok(stored, "cancel")
    row = stored["cancel"]
    assert row["status"] == "cancelled" and row["cancel_late"] == 0 and row["deposit_outcome"] == "refunded", row
    assert row["changed_via"] == "phone", row
    assert "dialogue.appt_cancelled_refund" in _said(stored, "cancel"), _said(stored, "cancel")
    aid = stored["ids"]["cancel"]
    assert any(t == "appointment.cancelled" and p.get("appointment_id") == aid and p.get("deposit") == "refunded"
               for t, p in stored["outbox"]), stored["outbox"]


def test_a_late_cancellation_keeps_the_deposit_and_the_caller_is_told_first(stored: dict[str, Any]) -> None:
    _call_ok(stored, "late")
    row = stored["late"]
    assert row["status"] == "cancelled" and row["cancel_late"] == 1 and row["deposit_outcome"] == "kept", row
    said = _said(stored, "late")
    assert said.index("dialogue.appt_cancel_check_late") < said.index("dialogue.appt_cancelled_kept"), said


def test_a_caller_from_an_unknown_number_moves_their_appointment_after_name_and_date_of_birth(
        stored: dict[str, Any]) -> None:
    _call_ok(stored, "move")
    row, before = stored["move"], stored["before"]["move"]
    said = _said(stored, "move")
    assert "dialogue.appt_identify" in said and "dialogue.appt_moved" in said, said
    assert row["status"] == "booked" and row["slot_start"] != before["slot_start"], (row, before)
    assert datetime.fromisoformat(row["slot_start"]) > datetime.now(UTC), row
    assert row["confirmed_at"] is None, row  # a new time is not yet confirmed


def test_clinic_facts_are_answered_at_three_steps_of_a_call(stored: dict[str, Any]) -> None:
    _call_ok(stored, "facts")
    said = _said(stored, "facts")
    for fact in ("fact-hours", "fact-parking", "fact-payment"):
        assert fact in said, said
    # each answer is followed by the step's own question, and the move still happens
    assert said[said.index("fact-parking") + 1] == "dialogue.offer_slot", said
    assert "dialogue.appt_moved" in said, said
    assert stored["facts"]["slot_start"] != stored["before"]["facts"]["slot_start"], stored["facts"]
