"""The scheduler component placing real SIP calls (SipEdge -> SIPp callee) from the encrypted queue."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.clinic.pack import Pack
from appliance.config import OutboundSettings
from appliance.scheduler.runner import Scheduler
from appliance.scheduler.setup import open_store
from appliance.scheduler.store import AttemptResult, Claim
from tests.scheduler.conftest import STAFF, treatment
from tests.telephony.conftest import Recorder, free_udp_port
from tests.telephony.test_edge_outbound import finish, start_uas

LA = ZoneInfo("America/Los_Angeles")


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


async def wait_idle(s: Scheduler, placed: int) -> None:
    for _ in range(400):
        if s.placed >= placed and not s._calls:  # noqa: SLF001 - the test waits for in-flight calls
            return
        await asyncio.sleep(0.05)
    raise AssertionError("calls did not finish")


@pytest.mark.timeout(120)
async def test_busy_then_answered_through_the_sip_edge(db: tuple[Path, bytes], pack: Pack, make_edge: Any,
                                                        tmp_path: Path) -> None:
    settings = OutboundSettings(enabled=True, poll_seconds=3600, max_outbound=1, reserve_inbound=2, ring_seconds=10)
    setup = open_store(db[0], db[1], pack, settings)
    setup.record_treatment(STAFF, treatment(), datetime(2025, 3, 7, 12, tzinfo=LA))
    setup.conn.close()
    clock = Clock(datetime(2025, 3, 8, 10, 5, tzinfo=LA))
    answered: list[Claim] = []

    async def handler(claim: Claim, call: Any) -> AttemptResult:
        answered.append(claim)
        call.send_audio(bytes(1600))
        await asyncio.sleep(0.3)
        await call.hangup()
        return AttemptResult("answered", "completed", {"reached": True, "delivered": True})

    busy_port = free_udp_port()
    uas = await start_uas("uas_busy.xml", busy_port)
    await asyncio.sleep(0.3)
    edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{busy_port}")
    sched = Scheduler(lambda: open_store(db[0], db[1], pack, settings), edge, handler, settings, clock=clock,
                      worker="test")
    await sched.start()
    try:
        await wait_idle(sched, 1)
        rc, out = await finish(uas)
        assert rc == 0, out
        row = await sched._db(lambda: sched.store.contacts(STAFF, plan_id=1)[0])  # noqa: SLF001
        assert (row["state"], row["last_result"], row["attempts"]) == ("due", "busy", 1)
        assert await sched.tick() == 0  # the retry is spaced: nothing yet
        # 31 minutes later the patient answers (a SIPp callee behind a digest challenge)
        clock.t += timedelta(minutes=31)
        pw = tmp_path / "sip.pw"
        pw.write_text("secret-pw\n")
        port = free_udp_port()
        uas = await start_uas("uas_answer.xml", port)
        await asyncio.sleep(0.3)
        sched.dialer = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{port}", username="100",
                                       password_file=pw)
        assert await sched.tick() == 1
        await wait_idle(sched, 2)
        rc, out = await finish(uas)
        assert rc == 0, out
        assert [c.attempt for c in answered] == [2]
        row = await sched._db(lambda: sched.store.contacts(STAFF, plan_id=1)[0])  # noqa: SLF001
        assert (row["state"], row["disposition"], row["reached"], row["delivered"]) == ("completed", "completed", 1, 1)
        assert await sched.tick() == 0  # completed: never called again
    finally:
        await sched.stop()


async def test_capacity_never_takes_inbound_lines(db: tuple[Path, bytes], pack: Pack) -> None:
    settings = OutboundSettings(enabled=True, poll_seconds=3600, max_outbound=3, reserve_inbound=2)
    setup = open_store(db[0], db[1], pack, settings)
    for i in range(4):
        setup.record_treatment(STAFF, treatment(phone=f"+1 555 010 00{i}0"), datetime(2025, 3, 7, 12, tzinfo=LA))
    setup.conn.close()
    release = asyncio.Event()

    class HeldDialer:  # calls that stay up until released: the slots stay occupied
        async def place_call(self, target: str, *, timeout_s: float = 30.0) -> Any:
            await release.wait()
            return type("R", (), {"outcome": "no-answer", "call": None})()

    inbound = {"n": 6}
    sched = Scheduler(lambda: open_store(db[0], db[1], pack, settings), HeldDialer(), None, settings,  # type: ignore[arg-type]
                      max_calls=10, active_inbound=lambda: inbound["n"],
                      clock=Clock(datetime(2025, 3, 8, 10, 5, tzinfo=LA)), worker="test")
    await sched.start()
    try:
        await asyncio.sleep(0.2)
        assert len(sched._calls) == 2  # noqa: SLF001 - 10 lines - 6 inbound - 2 reserved
        inbound["n"] = 8
        assert await sched.tick() == 0  # inbound grew: no new outbound call
        inbound["n"] = 0
        assert await sched.tick() == 1  # at most max_outbound=3 at once
        assert await sched.tick() == 0
        release.set()
        await wait_idle(sched, 3)
    finally:
        await sched.stop()
