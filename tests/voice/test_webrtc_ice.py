"""ICE host candidates per connection: a test call's answer offers only the addresses it was
given, and connects on them, while the aioice module and every other connection in the process
keep aioice's default (every interface but loopback)."""

from __future__ import annotations

import time

import aioice
import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCIceGatherer, RTCIceTransport, RTCPeerConnection, RTCSessionDescription

from appliance.calls import CallInfo
from appliance.voice.webrtc import WebRtcMedia, answer_offer, host_addresses_for, limit_host_addresses

LIBRARY_HOST_ADDRESSES = aioice.ice.get_host_addresses


def _hosts(sdp: str) -> set[str]:
    """The addresses of an SDP's ICE candidates."""
    return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}


def _media(call_id: str) -> WebRtcMedia:
    return WebRtcMedia(CallInfo(call_id=call_id, direction="inbound", remote_number="", remote_name=None,
                                started_at=time.time(), extra={"channel": "webrtc"}))


async def _browser_offer(pc: RTCPeerConnection) -> str:
    """What the console page sends: audio (µ-law among its codecs) and the "events" channel,
    ICE gathered on loopback only."""
    pc.addTransceiver("audio", direction="sendrecv")
    pc.createDataChannel("events")
    limit_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp


def _library_defaults() -> set[str]:
    return set(LIBRARY_HOST_ADDRESSES(use_ipv4=True, use_ipv6=True))


def test_a_wildcard_bind_keeps_the_default_and_an_address_is_kept_alone() -> None:
    for wildcard in (None, "", "0.0.0.0", "::"):
        assert host_addresses_for(wildcard) is None
    assert host_addresses_for("192.0.2.10") == ("192.0.2.10",)
    assert host_addresses_for("127.0.0.1") == ("127.0.0.1",)


async def test_a_limited_answer_offers_only_its_address_and_leaves_the_rest_of_the_process_alone() -> None:
    browser = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    media = _media("test-limited")
    unlimited_media = _media("test-unlimited")
    other = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    gatherer = RTCIceGatherer(iceServers=[])
    try:
        offer = await _browser_offer(browser)
        assert _hosts(offer) == {"127.0.0.1"}
        answer = await answer_offer(media, offer, host_addresses=["127.0.0.1"])
        assert _hosts(answer) == {"127.0.0.1"}
        await browser.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        assert await media.wait_connected(15.0)

        # The aioice module and class are the library's own, not replaced.
        assert aioice.ice.get_host_addresses is LIBRARY_HOST_ADDRESSES
        assert (LIBRARY_HOST_ADDRESSES.__module__, LIBRARY_HOST_ADDRESSES.__qualname__) == \
            ("aioice.ice", "get_host_addresses")
        method = aioice.Connection.get_component_candidates
        assert (method.__module__, method.__qualname__) == ("aioice.ice", "Connection.get_component_candidates")

        # A gatherer of its own, and an answer given no limit, gather on aioice's default.
        await gatherer.gather()
        gathered = {c.ip for c in gatherer.getLocalCandidates()}
        assert gathered == _library_defaults() and "127.0.0.1" not in gathered
        other_offer = await _browser_offer(other)
        assert _hosts(await answer_offer(unlimited_media, other_offer)) == _library_defaults()
    finally:
        await RTCIceTransport(gatherer).stop()
        for pc in (browser, other):
            await pc.close()
        await media.close()
        await unlimited_media.close()


async def test_limiting_a_connection_that_has_gathered_is_refused() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await _browser_offer(pc)
        with pytest.raises(RuntimeError, match="gathered"):
            limit_host_addresses(pc, ["192.0.2.10"])
    finally:
        await pc.close()
