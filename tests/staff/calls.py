"""Calls for the console tests, through the appliance's own call path: the real call runner, the
demo pack's conversation engine and the call writer on the test's record store; only the voice
session is a script of what the caller says (tests.records.scripted_call)."""

from __future__ import annotations

import itertools
import sys
import types
from typing import Any

from appliance.callflow import CallRunner
from appliance.calls import CallInfo
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.schedule import Scheduler
from appliance.config import Settings
from appliance.records.callstart import booking_calendar
from tests.records import scripted_call

PACK = load_pack(DEMO_PACK)
BOOKING = ["Hi, I'm a new patient", "Botox please", "the frown lines between my eyebrows", "no", "no",
           "no I don't take any", "no", "around five hundred dollars", "yes please", "my name is Dana Lee", "yes",
           "yes that works", "no thanks, bye"]
_ids = itertools.count(1)


async def inbound_call(records: Any, monkeypatch: Any, lines: list[str], number: str = "4155550101") -> int:
    """One inbound call (`lines` said by the caller); returns the call's row id (= its summary id)."""
    module = types.ModuleType("appliance.voice.session")
    module.VoiceSession = scripted_call.ScriptedSession  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "appliance.voice.session", module)
    scheduler = Scheduler(PACK.clinic, await booking_calendar(records, PACK))
    runner = CallRunner(Settings(), None, PACK, records, scheduler=scheduler)  # type: ignore[arg-type]
    call_id = f"staff-call-{next(_ids)}@pbx"
    await scripted_call.run_call(runner, CallInfo(call_id, "inbound", number), lines)
    return int(await records.run(lambda r: r.conn.execute("SELECT max(id) FROM calls WHERE pbx_call_id = ?",
                                                          (call_id,)).fetchone()[0]))
