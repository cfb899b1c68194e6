"""The front desk's outbound calls on the wire: kamailio as the clinic PBX, `appliance run`
registered as extension 2100 with `[outbound] enabled = true` (poll every second, call-backs
after 0 minutes), in a copy of the demo pack open all day with quiet hours off.

(a) A caller (5550107901) hangs up during the greeting: a call-back contact is due at once, the
    appliance calls 5550107901 back (a baresip phone registered at kamailio as that number
    answers), and the stored call is an outbound call that opened with the call-back greeting.
(b) Two reminders: appointments booked in the store two hours and 20 seconds ahead, so their
    2-hour reminder is due 20 seconds later. The patients' phones (baresip, answering by
    themselves with recorded answers: Piper speech through G.711) give name and date of birth,
    then one says "yes" (the appointment is confirmed, via reminder) and the other asks to move
    it and accepts the time offered (the appointment has a new time).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.foundation.helpers import ApplianceProcess
from tests.integration.test_aftercare_call import _query, answers_wav, call_done, open_pack, outbound_config, patient
from tests.integration.test_phone_call import EXTENSION
from tests.telephony.peers import kamailio

pytestmark = [pytest.mark.models, pytest.mark.slow]

CALLER = "5550107901"
CONFIRM = ("Lisa Brown", "5550107902", "1979-06-14", "This is Lisa Brown.", "June fourteenth nineteen seventy nine.")
MOVE = ("Mary Johnson", "5550107903", "1972-04-02", "This is Mary Johnson.", "April second nineteen seventy two.")


def desk_config(tmp_path: Path, kport: int, pack: Path) -> Path:
    cfg = outbound_config(tmp_path, kport, pack)
    cfg.write_text(cfg.read_text() + "callback_delay_minutes = 0\n")
    return cfg


async def desk_done(app: ApplianceProcess, n: int, within_s: float) -> dict[str, Any]:
    """The n-th `desk.call_done` event (the desk contact's outcome is recorded)."""
    return await call_done(app, n, within_s, "desk.call_done")


async def event(app: ApplianceProcess, name: str, within_s: float, **match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for e in app.events:
            if e.get("event") == name and all(e.get(k) == v for k, v in match.items()):
                return e
        await asyncio.sleep(0.25)
    raise AssertionError(f"no {name} {match}:\n{''.join(app.raw[-60:])}")


def hang_up_during_greeting(kport: int) -> None:
    from benchmarks.sip_caller import SipCaller

    caller = SipCaller(("127.0.0.1", kport), user=CALLER, to_user=EXTENSION)
    try:
        caller.invite()
        time.sleep(2.5)  # the greeting plays; the caller says nothing
        caller.bye()
    finally:
        caller.close()


def seed(var: Path, who: tuple[str, str, str, str, str], ahead: timedelta, provider: str = "np-rivera") -> int:
    """A patient and their appointment `ahead` from now, through the store's own methods."""
    from appliance.records.audit import Access
    from appliance.records.keys import read_key
    from appliance.records.store import Records

    r = Records.open(var / "appliance.db", read_key(var / "secrets" / "db.key"))
    staff = Access(actor="staff:test", reason="seed")
    try:
        pid = r.add_patient(staff, who[0], who[1], dob=who[2])
        start = (datetime.now(UTC) + ahead).replace(microsecond=0)
        return r.book_appointment(staff, pid, provider, start, start + timedelta(minutes=30), procedure="botox")
    finally:
        r.close()


def desk_rows(tmp_path: Path) -> list[dict[str, Any]]:
    cols = ("id", "kind", "appointment_id", "lead_hours", "reason", "state", "disposition", "attempts", "call_id")
    rows = _query(tmp_path, f"SELECT {', '.join(cols)} FROM desk_contacts ORDER BY id")  # noqa: S608
    return [dict(zip(cols, r, strict=True)) for r in rows]


@pytest.mark.timeout(1200)
async def test_a_missed_call_is_called_back_and_reminders_confirm_and_move(tmp_path: Path) -> None:
    pack = await asyncio.to_thread(open_pack, tmp_path)
    hello = await asyncio.to_thread(answers_wav, tmp_path, "hello", [(12.0, "Hi, I think you called me.")], 25.0)
    confirm = await asyncio.to_thread(answers_wav, tmp_path, "confirm", [
        (12.0, CONFIRM[3]), (9.0, CONFIRM[4]), (20.0, "Yes, I'll be there.")], 30.0)
    move = await asyncio.to_thread(answers_wav, tmp_path, "move", [
        (12.0, MOVE[3]), (9.0, MOVE[4]), (20.0, "I need to move it to another day, please."),
        (18.0, "Yes, that works.")], 25.0)
    async with kamailio(tmp_path) as kport:
        cfg = desk_config(tmp_path, kport, pack)
        app = ApplianceProcess(cfg)
        try:
            await asyncio.to_thread(app.wait_event, "appliance.ready", 240)
            await asyncio.to_thread(app.wait_event, "sip.registered", 30)
            await asyncio.to_thread(app.wait_event, "desk.started", 10)

            # (a) the missed call and its call-back
            async with patient(tmp_path, kport, CALLER, hello, 200, linger=False):
                await asyncio.to_thread(hang_up_during_greeting, kport)
                await event(app, "desk.callback_planned", 30, reason="silent")
                done_a = await desk_done(app, 1, 150)
            rows_a = await asyncio.to_thread(desk_rows, tmp_path)

            # (b) reminders for two appointments at the same time with two providers, due 20 s after
            # being seeded (planned before they are due, as the desk plans every reminder): the two
            # phones ring side by side; one confirms, one moves (each phone is stopped once its call is done)
            var = tmp_path / "var"
            async with patient(tmp_path, kport, CONFIRM[1], confirm, 300, linger=False), \
                    patient(tmp_path, kport, MOVE[1], move, 330, linger=False):
                confirm_id = await asyncio.to_thread(seed, var, CONFIRM, timedelta(hours=2, seconds=20))
                move_id = await asyncio.to_thread(seed, var, MOVE, timedelta(hours=2, seconds=20), "md-chen")
                before = await asyncio.to_thread(_query, tmp_path, "SELECT slot_start FROM appointments WHERE id = ?",
                                                 (move_id,))
                done_b1 = await desk_done(app, 2, 240)
                done_b2 = await desk_done(app, 3, 240)
            rows = await asyncio.to_thread(desk_rows, tmp_path)
            appts = {aid: await asyncio.to_thread(
                _query, tmp_path, "SELECT status, slot_start, confirmed_at, confirmed_via FROM appointments WHERE id = ?",
                (aid,)) for aid in (confirm_id, move_id)}
            calls = await asyncio.to_thread(
                _query, tmp_path, "SELECT c.id, c.direction, c.caller_number, (SELECT t.provenance FROM turns t WHERE "
                "t.call_id = c.id AND t.speaker = 'agent' ORDER BY t.idx LIMIT 1) FROM calls c ORDER BY c.id")
            code, _ = app.stop()
        finally:
            app.kill()
            (tmp_path / "appliance.log").write_text("".join(app.raw))
    log = "".join(app.raw[-80:])
    assert code == 0, log
    # (a): the inbound call, then the appliance's call-back to that number with the call-back greeting
    callback = next(r for r in rows_a if r["kind"] == "callback")
    assert callback["reason"] == "silent" and callback["call_id"] is not None, (rows_a, log)
    assert done_a["kind"] == "callback" and done_a["result"] == "answered", (done_a, log)
    inbound = [c for c in calls if c[1] == "inbound"]
    assert inbound and inbound[0][2].endswith(CALLER), calls
    back = next(c for c in calls if c[0] == callback["call_id"])
    assert back[1] == "outbound" and back[2].endswith(CALLER), (back, calls)
    assert (back[3] or "").endswith("#dialogue.greeting_callback"), (back, calls)
    # (b): the reminders, their outcomes in the store
    # (the moved appointment gets reminders for its new time too: only the reminders called count here)
    by_appt = {r["appointment_id"]: r for r in rows if r["kind"] == "reminder" and r["call_id"] is not None}
    assert done_b1["kind"] == "reminder" and done_b2["kind"] == "reminder", (done_b1, done_b2)
    assert by_appt[confirm_id]["lead_hours"] == 2 and by_appt[confirm_id]["state"] == "completed", (rows, log)
    assert by_appt[confirm_id]["disposition"] == "confirmed", (rows, log)
    status, _, confirmed_at, via = appts[confirm_id][0]
    assert status == "booked" and confirmed_at is not None and via == "phone", appts
    assert by_appt[move_id]["disposition"] == "moved", (rows, log)
    status, start, confirmed_at, _ = appts[move_id][0]
    assert status == "booked" and start != before[0][0] and confirmed_at is None, (appts, before)
    reminder_calls = [c for c in calls if c[0] in (by_appt[confirm_id]["call_id"], by_appt[move_id]["call_id"])]
    assert [c[1] for c in reminder_calls] == ["outbound", "outbound"], calls
    assert all((c[3] or "").endswith("#outbound.opener") for c in reminder_calls), calls
