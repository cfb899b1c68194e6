"""A service process for the mid-call crash test: the record store and the real call runner
(the voice session replaced by a script), one call that raises an escalation and then stays
open. Prints "ready" once the call's turns are committed; the test then kills it with SIGKILL."""

from __future__ import annotations

import asyncio
import sys

from appliance.callflow import CallRunner
from appliance.calls import CallInfo
from appliance.clinic.pack import load_pack
from appliance.clinic.service import DEMO_PACK
from appliance.config import Settings
from appliance.records.service import RecordStore
from tests.records import scripted_call

CALL_ID = "crash@pbx"
LINES = ["new patient", "I had xeomin last week and now I have a severe headache"]


async def main(data_dir: str) -> None:
    scripted_call.install()
    settings = Settings.model_validate({"paths": {"data_dir": data_dir}})
    store = RecordStore(settings)
    await store.start()
    assert store.records is not None
    runner = CallRunner(settings, None, load_pack(DEMO_PACK), store.records, scheduler=None)  # type: ignore[arg-type]
    scripted_call.SCRIPTS[CALL_ID] = LINES
    scripted_call.HOLD[CALL_ID] = asyncio.Event()  # the caller stays on the line
    call = asyncio.create_task(runner(scripted_call.FakeMedia(CallInfo(CALL_ID, "inbound", "4155550404"))))
    for _ in range(500):  # bounded: about 10 s
        said = await store.records.run(lambda r: r.conn.execute(
            "SELECT count(*) FROM turns WHERE speaker = 'caller'").fetchone()[0])
        escalated = await store.records.run(lambda r: r.conn.execute("SELECT count(*) FROM escalations").fetchone()[0])
        if said == len(LINES) and escalated == 1:
            print("ready", flush=True)
            break
        await asyncio.sleep(0.02)
    else:
        print(f"not committed: {said} caller turns, {escalated} escalations", flush=True)
    await call  # never ends: the test kills the process


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
