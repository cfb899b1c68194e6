"""The benchmark's TLS + SRTP caller against the appliance's real SIP edge on loopback, configured
as `make bench` configures the encrypted appliance: SIP over TLS with a throwaway self-signed
certificate (pinned to itself) and `srtp = "required"`. The far end is the scripted responder of
test_caller.py (a tone after the caller's speech), not the voice pipeline."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance.config import SipSettings
from appliance.setup.tls import write_self_signed
from appliance.telephony.edge import SipEdge
from appliance.telephony.siptls import fingerprint
from benchmarks.dialogue import run_call
from benchmarks.scripts import Script, Step
from benchmarks.secure_caller import SecureSipCaller, client_context
from benchmarks.sip_caller import CallFailed
from benchmarks.targets import free_port
from tests.benchmarks.test_caller import FAST, TEXT, Responder, caller_clip


class Recording(Responder):
    """The responder, keeping each call it handled (the edge's SipCall, with its SRTP context)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[Any] = []

    async def __call__(self, media: Any) -> None:
        self.calls.append(media)
        await super().__call__(media)


@dataclass
class Edge:
    edge: SipEdge
    cert: Path

    @property
    def port(self) -> int:
        return self.edge.port


def _pair(folder: Path) -> tuple[Path, Path, str]:
    cert, key = folder / "sip.crt", folder / "sip.key"
    write_self_signed(cert, key, ["127.0.0.1", "localhost"], "bench")
    return cert, key, fingerprint(ssl.PEM_cert_to_DER_cert(cert.read_text()))


@pytest.fixture
async def tls_edge(tmp_path: Path) -> AsyncIterator:
    edges: list[SipEdge] = []

    async def start(handler: Any) -> Edge:
        cert, key, pin = _pair(tmp_path)
        settings = SipSettings(bind_port=free_port(), rtp_port_min=46000, rtp_port_max=46999, transport="tls",
                               srtp="required", tls_cert=cert, tls_key=key, tls_pbx_sha256=pin)
        edge = SipEdge(settings, handler)
        await edge.start()
        edges.append(edge)
        return Edge(edge, cert)

    yield start
    for edge in edges:
        await edge.stop()


async def _until(cond: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)


async def test_a_call_over_tls_carries_srtp_both_ways_and_ends_with_bye(tls_edge) -> None:
    responder = Recording()
    far = await tls_edge(responder)
    script = Script("t", (Step(TEXT), Step(TEXT)))
    result = await asyncio.to_thread(run_call, "edge", far.port, script, {TEXT: caller_clip()}, greets=False,
                                     timing=FAST, tls=client_context(far.cert))
    # Voice-to-voice timed on both turns: the caller's speech reached the responder and its tone came back.
    assert [t.turn for t in result.turns] == [0, 1]
    assert all(t.v2v_ms is not None and t.v2v_ms > 0 and not t.no_reply for t in result.turns)
    assert responder.heard_speech >= 2 * 25
    sec = result.security
    assert sec is not None and sec["tls"] in ("TLSv1.2", "TLSv1.3")
    assert sec["srtp_protected"] > 50 and sec["srtp_unprotected"] > 50 and sec["srtp_failed"] == 0
    assert result.packets_in == sec["srtp_unprotected"]  # every packet heard was decrypted first
    await _until(lambda: responder.hangup is not None)
    assert responder.hangup == "remote-bye"  # the caller's BYE, over the TLS connection
    [call] = responder.calls
    srtp = call.media.srtp
    assert srtp is not None and srtp.unprotected > 50 and srtp.protected > 50 and srtp.failed == 0
    assert srtp.local.key != srtp.remote.key  # each side sends with its own key


async def test_a_bye_from_the_appliance_reaches_the_caller_on_its_connection(tls_edge) -> None:
    class HangsUp(Recording):
        async def __call__(self, media: Any) -> None:
            self.calls.append(media)
            await asyncio.sleep(0.5)  # the handler returns: the edge hangs up (BYE to our Contact)

    far = await tls_edge(HangsUp())
    caller = await asyncio.to_thread(SecureSipCaller, ("127.0.0.1", far.port), client_context(far.cert))
    try:
        await asyncio.to_thread(caller.invite, 5.0)
        assert await asyncio.to_thread(caller.remote_bye.wait, 5.0)
        assert caller.srtp is not None and caller.srtp.unprotected > 0  # the far end's audio, decrypted
    finally:
        await asyncio.to_thread(caller.close)


async def test_a_certificate_the_caller_does_not_trust_fails_the_call(tls_edge, tmp_path: Path) -> None:
    far = await tls_edge(Recording())
    other = tmp_path / "other"
    other.mkdir()
    stranger, _, _ = _pair(other)
    with pytest.raises(CallFailed, match="TLS handshake .* failed"):
        await asyncio.to_thread(SecureSipCaller, ("127.0.0.1", far.port), client_context(stranger))


def test_the_srtp_cost_per_packet_is_measured_on_real_packets() -> None:
    from benchmarks.secure_caller import srtp_cost_us

    cost = srtp_cost_us(packets=50)  # each packet round-trips (asserted inside); no bound on the time
    assert set(cost) == {"protect_us", "unprotect_us"} and all(v > 0 for v in cost.values())
