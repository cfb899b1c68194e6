"""Fixtures for the telephony tests: free loopback ports, a running SipEdge, SIPp runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from appliance.calls import AudioIn, CallMedia, DtmfIn, HangUp
from appliance.config import SipSettings
from appliance.telephony.edge import SipEdge
from benchmarks.ports import free_port

DATA = Path(__file__).resolve().parents[1] / "data" / "sip"


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A loopback port free for UDP and TCP (checked on 127.0.0.1: free there, free on 127.0.0.x too)."""
    del host
    return free_port()


class Recorder:
    """A call handler that records what the pipeline receives and optionally plays audio."""

    def __init__(self, play: bytes = b"", hangup_after_s: float | None = None) -> None:
        self.play = play
        self.hangup_after_s = hangup_after_s
        self.calls: list[CallMedia] = []
        self.audio: dict[str, int] = {}
        self.digits: dict[str, str] = {}
        self.hangups: dict[str, str] = {}
        self.answered = asyncio.Event()
        self.ended = asyncio.Event()

    async def __call__(self, call: CallMedia) -> None:
        cid = call.info.call_id
        self.calls.append(call)
        self.audio[cid] = 0
        self.digits[cid] = ""
        self.answered.set()
        if self.play:
            call.send_audio(self.play)
        loop = asyncio.get_running_loop()
        end_at = loop.time() + self.hangup_after_s if self.hangup_after_s is not None else None
        while True:
            timeout = None if end_at is None else max(0.0, end_at - loop.time())
            try:
                ev = await asyncio.wait_for(call.recv(), timeout=timeout)
            except TimeoutError:
                await call.hangup("local")
                self.hangups[cid] = "local"
                break
            if isinstance(ev, AudioIn):
                self.audio[cid] += 1
            elif isinstance(ev, DtmfIn):
                self.digits[cid] += ev.digit
            elif isinstance(ev, HangUp):
                self.hangups[cid] = ev.reason
                break
        self.ended.set()


@pytest.fixture
async def make_edge() -> AsyncIterator[Callable[..., Awaitable[SipEdge]]]:
    edges: list[SipEdge] = []

    async def _make(handler: Callable[[CallMedia], Awaitable[None]], **overrides: object) -> SipEdge:
        fields: dict[str, object] = {"bind_port": free_udp_port(), "rtp_port_min": 30000, "rtp_port_max": 39999}
        fields.update(overrides)
        edge = SipEdge(SipSettings(**fields), handler)
        await edge.start()
        edges.append(edge)
        return edge

    yield _make
    for e in edges:
        await asyncio.wait_for(e.stop(), timeout=5)


async def sipp(*args: str, limit_s: float = 60.0, cwd: Path | None = None) -> tuple[int, str]:
    """Run SIPp (no screen, bounded); return (exit code, stderr+stdout tail)."""
    cmd = ["sipp", "-nostdin", "-timeout", f"{int(limit_s)}s", *args]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                cwd=cwd)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=limit_s + 15)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")[-3000:]


def sipp_uac(edge: SipEdge, scenario: str, *extra: str, calls: int = 1, local_ip: str = "127.0.0.1") -> list[str]:
    return [f"127.0.0.1:{edge.port}", "-sf", str(DATA / scenario), "-s", "100", "-m", str(calls),
            "-i", local_ip, "-p", str(free_udp_port(local_ip)), "-mp", str(free_udp_port(local_ip)), *extra]
