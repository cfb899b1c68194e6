"""Blind and attended transfer through kamailio to a second registered endpoint (baresip).

The caller (baresip, extension "caller") plays a 400 Hz tone; the target (baresip registered as
201) records what it hears. A transfer succeeded when the target's recording carries the
caller's tone; a failed transfer leaves the caller's call up with audio flowing both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from appliance.calls import AudioIn, CallMedia, HangUp, TransferResult
from tests.telephony.audio import dominant_hz, read_wav, recordings, tone, write_wav
from tests.telephony.conftest import DATA, free_udp_port, sipp
from tests.telephony.peers import Baresip, baresip, kamailio, registered_phone

CALLER_HZ = 400.0
APPLIANCE_HZ = 1000.0
TARGET_HZ = 700.0


def near(hz: float | None, want: float) -> bool:
    return hz is not None and abs(hz - want) < 30


@dataclass
class Transferring:
    """Call handler: once the caller's audio arrives, transfer it; after a failure keep the call,
    note the caller's audio still arriving, answer with a tone, then hang up."""

    target: str
    attended: bool = False
    brief: bytes | None = None
    timeout_s: float = 30.0
    wait_loud: int = 10  # frames of the caller's tone to hear before transferring
    result: TransferResult | None = None
    heard_after: int = 0  # loud caller frames received after a failed transfer returned
    sent_after: int = 0  # ms of audio the appliance sent after it
    state_after: str = ""
    hangup: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, call: CallMedia) -> None:
        if call.info.remote_number != "caller":  # another phone's own call (the busy target)
            while not isinstance(await call.recv(), HangUp):
                pass
            return
        try:
            await self._run(call)
        finally:
            self.done.set()

    async def _run(self, call: CallMedia) -> None:
        loud = 0
        while loud < self.wait_loud:  # the caller's tone: media is up
            ev = await call.recv()
            if isinstance(ev, HangUp):
                self.hangup = ev.reason
                return
            if isinstance(ev, AudioIn) and np.abs(np.frombuffer(ev.pcm, "<i2")).mean() > 500:
                loud += 1
        self.result = await call.transfer(self.target, attended=self.attended, brief_pcm=self.brief,
                                          timeout_s=self.timeout_s)  # type: ignore[call-arg]
        if self.result.ok:
            while not isinstance(ev := await call.recv(), HangUp):
                pass
            self.hangup = ev.reason
            return
        self.state_after = call.state  # type: ignore[attr-defined]
        since, sent = time.monotonic(), call.sent_audio_ms()
        call.send_audio(tone(APPLIANCE_HZ, 1.5))
        end = since + 3.0
        while (left := end - time.monotonic()) > 0:
            try:
                ev = await asyncio.wait_for(call.recv(), left)
            except TimeoutError:
                break
            if isinstance(ev, HangUp):
                self.hangup = ev.reason
                return
            if isinstance(ev, AudioIn) and ev.t > since and np.abs(np.frombuffer(ev.pcm, "<i2")).mean() > 500:
                self.heard_after += 1
        self.sent_after = call.sent_audio_ms() - sent
        await call.hangup("local")
        self.hangup = "local"


@pytest.fixture
async def pbx(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[int]:
    ring = getattr(request, "param", 120)
    async with kamailio(tmp_path, ring_timeout_s=ring) as port:
        yield port


async def appliance(make_edge, kport: int, handler: Transferring):  # noqa: ANN201
    edge = await make_edge(handler, mode="register", registrar=f"127.0.0.1:{kport}", username="100",
                           extension="100", register_expires=300)
    await asyncio.wait_for(edge.registration.registered.wait(), 10)
    return edge


async def call_appliance(tmp_path: Path, kport: int, handler: Transferring, limit_s: float = 60) -> Baresip:
    """The caller dials the appliance's extension through kamailio; returns once the handler is done."""
    source = write_wav(tmp_path / "caller.wav", tone(CALLER_HZ, 90))
    async with baresip(tmp_path / "caller", "<sip:caller@127.0.0.1>;regint=0", source) as caller:
        await caller.wait_for("baresip is ready")
        caller.command(f"/dial sip:100@127.0.0.1:{kport}")
        try:
            await asyncio.wait_for(handler.done.wait(), limit_s)
        finally:
            await asyncio.sleep(1.0)  # let the target record a second of the transferred call
    return caller


async def test_blind_transfer_caller_reaches_target(make_edge, pbx: int, tmp_path: Path) -> None:
    target = await registered_phone(tmp_path / "t201", pbx, "201")
    try:
        handler = Transferring("201")
        await appliance(make_edge, pbx, handler)
        await call_appliance(tmp_path, pbx, handler)
    finally:
        await target.stop()
    assert handler.result is not None and handler.result.ok, (handler.result, target.tail())
    assert handler.hangup == "transfer"
    heard = recordings(target.rec)
    assert len(heard) == 1, heard
    assert near(dominant_hz(read_wav(heard[0])), CALLER_HZ)  # the caller's audio reached the target


async def test_attended_transfer_briefs_then_connects(make_edge, pbx: int, tmp_path: Path) -> None:
    target = await registered_phone(tmp_path / "t201", pbx, "201")
    try:
        handler = Transferring("201", attended=True, brief=tone(APPLIANCE_HZ, 1.0))
        await appliance(make_edge, pbx, handler)
        await call_appliance(tmp_path, pbx, handler)
    finally:
        await target.stop()
    assert handler.result is not None and handler.result.ok, (handler.result, target.tail())
    assert handler.hangup == "transfer"
    consult, transferred = recordings(target.rec)
    assert near(dominant_hz(read_wav(consult)), APPLIANCE_HZ)  # the target heard the brief first
    assert near(dominant_hz(read_wav(transferred)), CALLER_HZ)  # then the caller


@contextlib.asynccontextmanager
async def failing_target(kind: str, tmp_path: Path, kport: int) -> AsyncIterator[None]:
    if kind == "unregistered":
        yield
        return
    if kind == "no-answer":
        phone = await registered_phone(tmp_path / "t201", kport, "201", answer="manual")
    else:  # busy: one call at most, and it is already on a call (to the appliance)
        phone = await registered_phone(tmp_path / "t201", kport, "201", extra_config="call_max_calls 1\n")
        phone.command(f"/dial sip:100@127.0.0.1:{kport}")
        await phone.wait_for("Call established", limit_s=10)
    try:
        yield
    finally:
        await phone.stop()


def assert_call_stayed_up(handler: Transferring, caller: Baresip, *, recorded: bool = True) -> None:
    assert handler.result is not None and not handler.result.ok
    assert handler.result.detail, handler.result
    assert handler.state_after == "confirmed" and handler.hangup == "local"
    assert handler.heard_after >= 10, handler  # the caller's audio still reaches the pipeline
    assert handler.sent_after >= 1000, handler  # and the appliance's reply went out
    if recorded:  # baresip 1.0 stops its decode recording at a re-INVITE (the attended case holds)
        first = recordings(caller.rec)[0]  # the caller's call with the appliance
        assert near(dominant_hz(read_wav(first)), APPLIANCE_HZ), caller.tail()  # the caller heard it


FAILURES = [("unregistered", "404"), ("busy", "486"), ("no-answer", "408")]


@pytest.mark.parametrize("pbx", [5], indirect=True)  # the PBX gives up ringing after 5 s
@pytest.mark.parametrize(("kind", "status"), FAILURES)
async def test_blind_transfer_failure_keeps_the_call(make_edge, pbx: int, tmp_path: Path, kind: str,
                                                     status: str) -> None:
    handler = Transferring("201", timeout_s=20)
    await appliance(make_edge, pbx, handler)
    async with failing_target(kind, tmp_path, pbx):
        caller = await call_appliance(tmp_path, pbx, handler)
    assert_call_stayed_up(handler, caller)
    assert status in handler.result.detail, handler.result


@pytest.mark.parametrize(("kind", "outcome"), [("unregistered", "rejected"), ("busy", "busy"),
                                               ("no-answer", "no-answer")])
async def test_attended_transfer_failure_keeps_the_call(make_edge, pbx: int, tmp_path: Path, kind: str,
                                                        outcome: str) -> None:
    handler = Transferring("201", attended=True, brief=tone(APPLIANCE_HZ, 0.5), timeout_s=4)
    await appliance(make_edge, pbx, handler)
    async with failing_target(kind, tmp_path, pbx):
        caller = await call_appliance(tmp_path, pbx, handler)
    assert_call_stayed_up(handler, caller, recorded=False)
    assert outcome in handler.result.detail, handler.result


@pytest.mark.parametrize("attended", [True, False])
async def test_transfer_bridges_when_the_phone_refuses_refer(make_edge, pbx: int, tmp_path: Path,
                                                             attended: bool) -> None:
    """The caller (SIPp, echoing RTP) answers REFER with 501: the appliance joins the calls itself.
    The target hears the brief (attended), then its own tone come back through the caller's echo:
    media flows target -> appliance -> caller -> appliance -> target. The caller hangs up; the
    target is released."""
    target = await registered_phone(tmp_path / "t201", pbx, "201",
                                    source=write_wav(tmp_path / "target.wav", tone(TARGET_HZ, 90)))
    try:
        handler = Transferring("201", attended=attended, brief=tone(APPLIANCE_HZ, 1.0) if attended else None,
                               wait_loud=0)
        scenario = "uac_refer_refused.xml" if attended else "uac_refer_refused_blind.xml"
        edge = await appliance(make_edge, pbx, handler)
        rc, out = await sipp(f"127.0.0.1:{pbx}", "-sf", str(DATA / scenario), "-s", "100",
                             "-m", "1", "-d", "4000", "-rtp_echo", "-i", "127.0.0.1", "-p", str(free_udp_port()),
                             "-mp", str(free_udp_port()), "-trace_err", limit_s=40, cwd=tmp_path)
        assert rc == 0, out
        await target.wait_for("terminated", limit_s=10)  # released when the caller hung up
        for _ in range(50):
            if not edge.calls:
                break
            await asyncio.sleep(0.1)
        assert not edge.calls
    finally:
        await target.stop()
    assert handler.result is not None and handler.result.ok, handler.result
    assert handler.result.detail == "bridged (REFER 501)" and handler.hangup == "transfer"
    (heard,) = recordings(target.rec)
    pcm = read_wav(heard)
    if not attended:
        assert near(dominant_hz(pcm), TARGET_HZ)
        return
    brief_end = int(np.argmax(np.abs(pcm[:]) > 2000)) + 8000  # the 1 s brief, then the bridge
    assert near(dominant_hz(pcm[:brief_end]), APPLIANCE_HZ)
    assert near(dominant_hz(pcm[brief_end + 1600:]), TARGET_HZ)  # its own tone, echoed by the caller
