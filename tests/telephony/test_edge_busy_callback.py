"""A caller turned away at capacity (486) is handed to the call-back hook with their number;
raw SIP over loopback against the running edge, every wait bounded."""

from __future__ import annotations

import asyncio

from tests.telephony.conftest import Recorder
from tests.telephony.rawsip import RawCaller


async def test_a_486_at_capacity_reports_the_callers_number(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, max_calls=1)
    turned_away: list[str] = []
    edge.on_busy = turned_away.append
    first = RawCaller(edge.port, "busy-1")
    await first.invite()
    assert turned_away == []  # answered: nobody to call back
    second = RawCaller(edge.port, "busy-2")
    second.send("INVITE", body=second.sdp())
    await second.recv(status=486)
    await asyncio.sleep(0)
    assert turned_away == ["5551000"]  # the From user part, as received
    for p in (first, second):
        p.close()
