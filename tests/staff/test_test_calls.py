"""Browser test calls at the media and signalling layer: an aiortc peer plays the browser
against the console's real routes (HTTPS app, session, CSRF, audit) on loopback.

The call's runner here is a small loop over the media (it echoes what it hears and answers
keypad digits with speech-sized bursts); the whole voice pipeline behind a real browser is
tests/integration/test_test_call.py."""

from __future__ import annotations

import asyncio
import fractions
import json
import re
from typing import Any

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from appliance.calls import FRAME_SAMPLES, AudioIn, DtmfIn, HangUp
from appliance.staff.testcall import TestCalls
from appliance.voice.webrtc import WebRtcMedia, limit_host_addresses
from tests.staff.conftest import PASSWORD, client_for


class Tone(MediaStreamTrack):
    """The 'browser microphone': a 440 Hz tone at 8 kHz, 20 ms frames, paced."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.pts = 0

    async def recv(self) -> av.AudioFrame:
        await asyncio.sleep(0.02)
        t = (np.arange(FRAME_SAMPLES) + self.pts) / 8000
        pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 8000, self.pts, fractions.Fraction(1, 8000)
        self.pts += FRAME_SAMPLES
        return frame


class Browser:
    """A WebRTC peer that behaves like the console page: offer with a data channel 'events'
    (ICE on loopback, where the console under test listens)."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel("events")
        self.events: list[dict[str, Any]] = []
        self.channel.on("message", lambda m: self.events.append(json.loads(m)))
        self.heard: list[np.ndarray] = []
        self.pc.addTrack(Tone())
        self.pc.on("track", lambda track: asyncio.ensure_future(self._listen(track)))

    async def _listen(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:  # noqa: BLE001  (the call ended)
                return
            self.heard.append(frame.to_ndarray().reshape(-1))

    async def offer(self) -> str:
        limit_host_addresses(self.pc, ["127.0.0.1"])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))


async def echo_runner(media: WebRtcMedia) -> Any:
    """Echo the caller's audio; a keypad digit is answered with 400 ms of loud audio and reported."""
    while True:
        event = await media.recv()
        if isinstance(event, HangUp):
            media.report({"type": "ended", "outcome": "test", "reason": event.reason})
            return None
        if isinstance(event, DtmfIn):
            media.report({"type": "caller", "text": f"(pressed {event.digit})"})
            media.send_audio((np.full(3200, 12000, "<i2")).tobytes())
            result = await media.transfer("2001", attended=True)
            media.report({"type": "transfer-result", "ok": result.ok, "detail": result.detail})
        elif isinstance(event, AudioIn) and media.pending_audio_ms() < 200:
            media.send_audio(event.pcm)


async def _signed_in(app) -> tuple[Any, str]:
    client = client_for(app)
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    await client.post("/login", data={"username": "nina", "password": PASSWORD, "csrf_token": token})
    page = await client.get("/test-call")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    return client, csrf


@pytest.fixture
async def calls(ctx, repo):
    ctx.test_calls = TestCalls(echo_runner, repo.record, max_seconds=60, ice_addresses=["127.0.0.1"])
    yield ctx.test_calls
    await ctx.test_calls.close()


async def _until(cond, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_test_call_carries_audio_both_ways_keypad_and_hangup(app, calls, repo) -> None:
    client, csrf = await _signed_in(app)
    browser = Browser()
    resp = await client.post("/api/test-calls", json={"type": "offer", "sdp": await browser.offer()},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    # G.711 µ-law only (what a phone caller hears), and ICE on the console's own address only.
    audio = [line for line in body["sdp"].splitlines() if line.startswith("a=rtpmap:")]
    assert audio and all("PCMU/8000" in line for line in audio), audio
    candidates = [line for line in body["sdp"].splitlines() if line.startswith("a=candidate:")]
    assert candidates and all(" 127.0.0.1 " in c for c in candidates), candidates
    await browser.answer(body["sdp"])

    # The echo comes back: the tone the browser sent is heard (loud frames after the silence).
    await _until(lambda: sum(np.abs(f).mean() > 1000 for f in browser.heard) >= 10)
    # A keypad digit reaches the call as DTMF; a transfer is refused in a test call.
    await _until(lambda: browser.channel.readyState == "open")
    browser.channel.send(json.dumps({"dtmf": "1"}))
    browser.channel.send(json.dumps({"dtmf": "not a digit"}))
    browser.channel.send("not json")
    await _until(lambda: any(e.get("type") == "transfer-result" for e in browser.events))
    assert {"type": "caller", "text": "(pressed 1)"} in browser.events
    transfer = next(e for e in browser.events if e["type"] == "transfer")
    assert transfer == {"type": "transfer", "target": "2001", "kind": "attended", "placed": False}
    assert next(e for e in browser.events if e["type"] == "transfer-result")["ok"] is False

    # A second test call while one runs is refused.
    other = Browser()
    busy = await client.post("/api/test-calls", json={"type": "offer", "sdp": await other.offer()},
                             headers={"X-CSRF-Token": csrf})
    assert busy.status_code == 409 and "already in progress" in busy.json()["detail"]
    await other.pc.close()

    end = await client.delete(f"/api/test-calls/{body['id']}", headers={"X-CSRF-Token": csrf})
    assert end.status_code == 204
    assert calls.calls == {}
    await browser.pc.close()
    audit = [(r["actor"], r["action"]) for r in await repo.audit_events()]
    assert ("staff:nina", "testcall.start") in audit and ("staff:nina", "testcall.end") in audit


async def _connected(app) -> tuple[Any, str, Browser]:
    """Signed in, with a test call up and its data channel open."""
    client, csrf = await _signed_in(app)
    browser = Browser()
    resp = await client.post("/api/test-calls", json={"type": "offer", "sdp": await browser.offer()},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 201, resp.text
    await browser.answer(resp.json()["sdp"])
    await _until(lambda: browser.channel.readyState == "open")
    return client, csrf, browser


async def test_the_browser_hanging_up_ends_the_call(app, calls) -> None:
    client, csrf, browser = await _connected(app)
    browser.channel.send(json.dumps({"hangup": True}))
    await _until(lambda: not calls.calls)
    await _until(lambda: any(e.get("type") == "ended" for e in browser.events) or browser.channel.readyState != "open")
    await browser.pc.close()


@pytest.mark.parametrize(("sdp", "says"), [
    ("attended", "not an SDP document"),
    ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", "no audio"),
    ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n",
     "no G.711"),
    ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\nthis is not sdp\r\n", "could not be negotiated"),
])
async def test_unusable_offers_are_refused_with_the_reason(app, calls, sdp: str, says: str) -> None:
    client, csrf = await _signed_in(app)
    resp = await client.post("/api/test-calls", json={"type": "offer", "sdp": sdp}, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 400, resp.text
    assert says in resp.json()["detail"] and resp.json()["fix"]
    assert calls.calls == {}


async def test_test_calls_need_a_session_csrf_and_an_engine(app, ctx) -> None:
    anonymous = client_for(app)
    assert (await anonymous.post("/api/test-calls", json={"type": "offer", "sdp": "v=0"})).status_code == 401
    assert (await anonymous.get("/test-call")).status_code == 303
    client, csrf = await _signed_in(app)
    no_csrf = await client.post("/api/test-calls", json={"type": "offer", "sdp": "v=0\r\nm=audio PCMU/8000"})
    assert no_csrf.status_code == 403
    # This console has no voice engines (ctx.test_calls is None): refused with the fix.
    browser = Browser()
    resp = await client.post("/api/test-calls", json={"type": "offer", "sdp": await browser.offer()},
                             headers={"X-CSRF-Token": csrf})
    await browser.pc.close()
    assert resp.status_code == 409 and "appliance run" in resp.json()["fix"]


async def test_signing_off_ends_your_test_call(app, calls) -> None:
    client, csrf, browser = await _connected(app)
    assert calls.calls
    out = await client.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    await _until(lambda: not calls.calls)
    await browser.pc.close()
