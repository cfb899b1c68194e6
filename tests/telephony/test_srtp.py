"""SRTP with SDES keys: crypto lines, the policy decision, libsrtp contexts, SDP, and two real RTP sessions."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.calls import FRAME_BYTES
from appliance.telephony import g711
from appliance.telephony.media import RtpSession
from appliance.telephony.rtp import RtpPacket, parse_rtp
from appliance.telephony.sdp import Negotiated, answer_sdp, negotiate, offer_sdp, parse_sdp, with_crypto
from appliance.telephony.srtp import SUITES, Crypto, SrtpContext, choose, media_security

RFC_KEY = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"  # RFC 4568 §4's example key
K80 = Crypto(1, "AES_CM_128_HMAC_SHA1_80", bytes(range(30)))
K32 = Crypto(2, "AES_CM_128_HMAC_SHA1_32", bytes(range(30, 60)))
TONE = bytes(range(0, 256, 2)) * 2 + bytes(64)  # 320 bytes of PCM that is not silence
assert len(TONE) == FRAME_BYTES


def rtp(seq: int, payload: bytes = b"\xff" * 160, ssrc: int = 0x1234) -> bytes:
    return RtpPacket(0, seq, seq * 160, ssrc, payload).build()


def test_a_crypto_line_parses_and_formats_back_to_the_same_value() -> None:
    c = Crypto.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}")
    assert c is not None
    assert c == Crypto(1, "AES_CM_128_HMAC_SHA1_80", base64.b64decode(RFC_KEY))
    assert c.line() == f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}"
    assert Crypto.parse(K32.line()) == K32
    assert Crypto.parse(f"7 AES_CM_128_HMAC_SHA1_32 inline:{RFC_KEY}|2^20 WSH=128") == Crypto(
        7, "AES_CM_128_HMAC_SHA1_32", base64.b64decode(RFC_KEY))  # lifetime and window hint ignored
    fresh = Crypto.new(3)
    assert (fresh.tag, fresh.suite, len(fresh.key)) == (3, "AES_CM_128_HMAC_SHA1_80", 30)
    assert Crypto.new(3).key != fresh.key
    assert RFC_KEY not in repr(c) and "key" not in repr(c)  # a master key never reaches a log line


@pytest.mark.parametrize("value", [
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY[:-1]}!",  # not base64
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY[:-4]}",  # 27 bytes
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY[:-2]}==",  # 40 characters, padded: 28 bytes
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}AAAA",  # 33 bytes
    f"1 AES_256_CM_HMAC_SHA1_80 inline:{RFC_KEY}",  # a suite we do not speak
    f"1 aes_cm_128_hmac_sha1_80 inline:{RFC_KEY}",  # suite names are case-sensitive
    f"1 F8_128_HMAC_SHA1_80 inline:{RFC_KEY}",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|2^20|1:4",  # RFC 4568's own example carries an MKI
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|1:4",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|2^20|1:4;inline:{RFC_KEY}|2^20|2:4",  # two keys
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY} UNENCRYPTED_SRTP",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY} UNAUTHENTICATED_SRTP",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY} KDR=23",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|forever",
    f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}",  # a tag is at most 9 digits
    f"x AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}",
    f"1 AES_CM_128_HMAC_SHA1_80 key:{RFC_KEY}",
    "1 AES_CM_128_HMAC_SHA1_80", "", "\u00b2 AES_CM_128_HMAC_SHA1_80 inline:\u00e9" * 3,
])
def test_an_unusable_crypto_line_is_refused(value: str) -> None:
    assert Crypto.parse(value) is None


def test_building_a_crypto_with_a_bad_suite_or_key_is_an_error() -> None:
    with pytest.raises(ValueError):
        Crypto(1, "NULL_HMAC_SHA1_80", bytes(30))
    with pytest.raises(ValueError):
        Crypto(1, "AES_CM_128_HMAC_SHA1_80", bytes(16))


def test_choose_keeps_the_offerers_preference() -> None:
    assert choose([K32, K80]) == K32
    assert choose([K80, K32]) == K80
    assert choose([]) is None
    assert set(SUITES) >= {"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"}


REFUSED = "refused"


@pytest.mark.parametrize(("policy", "proto", "offered", "expected"), [
    ("required", "RTP/AVP", [K80], REFUSED),  # crypto lines on a plain offer do not make it SRTP
    ("required", "RTP/SAVP", [K32, K80], K32),
    ("required", "RTP/SAVP", [], REFUSED),  # only unsupported suites: parse_sdp kept none
    ("optional", "RTP/AVP", [K80], None),
    ("optional", "RTP/SAVP", [K80], K80),
    ("optional", "RTP/SAVPF", [K80], K80),
    ("optional", "RTP/SAVP", [], REFUSED),  # an SRTP-only offer we have no key for: not answerable in plain RTP
    ("off", "RTP/AVP", [K80], None),
    ("off", "RTP/SAVP", [K80], REFUSED),
    ("off", "RTP/SAVP", [], REFUSED),
])
def test_media_security_follows_the_policy(policy: str, proto: str, offered: list[Crypto],
                                           expected: Crypto | str | None) -> None:
    crypto, reason = media_security(proto, offered, policy)
    if expected == REFUSED:
        assert crypto is None and reason
    else:
        assert (crypto, reason) == (expected, None)


def test_an_unknown_policy_is_an_error_not_plain_rtp() -> None:
    with pytest.raises(ValueError):
        media_security("RTP/SAVP", [K80], "maybe")


def test_srtp_contexts_round_trip_both_ways_and_refuse_forgeries() -> None:
    a_key, b_key = Crypto.new(1), Crypto.new(1)
    a, b = SrtpContext(a_key, b_key), SrtpContext(b_key, a_key)
    for seq in (65534, 65535, 0, 1):  # across the sequence wrap
        wire = a.protect(rtp(seq))
        assert len(wire) == len(rtp(seq)) + 10 and wire[12:172] != b"\xff" * 160
        assert b.unprotect(wire) == rtp(seq)
    assert a.unprotect(b.protect(rtp(7, ssrc=99))) == rtp(7, ssrc=99)
    assert (a.protected, b.unprotected, b.failed) == (4, 4, 0)

    fresh = a.protect(rtp(2))
    tampered = fresh[:20] + bytes([fresh[20] ^ 1]) + fresh[21:]
    assert b.unprotect(tampered) is None
    assert b.unprotect(fresh) == rtp(2)  # the genuine packet still passes
    assert b.unprotect(fresh) is None  # ... once: a replay does not
    assert b.unprotect(rtp(3)) is None  # plain RTP
    for garbage in (b"", b"\x80", bytes(12), bytes(range(200))):
        assert b.unprotect(garbage) is None
    assert b.failed == 7

    wrong = SrtpContext(Crypto.new(1), Crypto.new(1))
    assert wrong.unprotect(a.protect(rtp(4))) is None

    short = SrtpContext(Crypto.new(1, "AES_CM_128_HMAC_SHA1_32"), Crypto.new(1, "AES_CM_128_HMAC_SHA1_32"))
    assert len(short.protect(rtp(1))) == len(rtp(1)) + 4  # the 32-bit tag


def test_an_sdp_offer_with_crypto_is_savp_and_parses_back_to_the_same_key() -> None:
    body = offer_sdp(host="127.0.0.1", port=20002, session_id=1, crypto=K80)
    assert b"m=audio 20002 RTP/SAVP 0 8 101\r\n" in body
    assert f"a=crypto:{K80.line()}\r\n".encode() in body
    media = parse_sdp(body)
    assert (media.proto, media.crypto) == ("RTP/SAVP", [K80])


def test_an_sdp_offer_without_crypto_is_unchanged() -> None:
    assert offer_sdp(host="127.0.0.1", port=20002, session_id=1) == (
        b"v=0\r\no=appliance 1 1 IN IP4 127.0.0.1\r\ns=appliance\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 20002 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")
    assert parse_sdp(offer_sdp(host="127.0.0.1", port=20002, session_id=1)).crypto == []


def test_an_sdp_answer_to_an_srtp_offer_carries_our_key_with_the_offered_tag() -> None:
    offer = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
             b"m=audio 4000 RTP/SAVP 0 101\r\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" + RFC_KEY.encode() * 2 + b"\r\n"
             b"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:garbage\r\n"
             b"a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:" + RFC_KEY.encode() + b"\r\n"
             b"a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:" + RFC_KEY.encode() + b"\r\n"
             b"a=rtpmap:101 telephone-event/8000\r\nm=video 5000 RTP/SAVP 96\r\na=crypto:" + K80.line().encode() + b"\r\n")
    media = parse_sdp(offer)
    assert media.proto == "RTP/SAVP" and [c.tag for c in media.crypto] == [3, 4]  # malformed and foreign lines skipped
    remote, reason = media_security(media.proto, media.crypto, "optional")
    assert remote is not None and reason is None and remote.tag == 3
    neg = negotiate(media)
    assert neg is not None and neg.crypto is None
    neg = with_crypto(neg, remote)
    ours = Crypto.new(remote.tag, remote.suite)
    answer = parse_sdp(answer_sdp(neg, host="127.0.0.1", port=20000, session_id=7, version=2, crypto=ours))
    assert (answer.proto, answer.crypto) == ("RTP/SAVP", [ours])
    with pytest.raises(ValueError):  # never a plain answer to an agreed SRTP offer
        answer_sdp(neg, host="127.0.0.1", port=20000, session_id=7, version=2)
    with pytest.raises(ValueError):
        answer_sdp(neg, host="127.0.0.1", port=20000, session_id=7, version=2, crypto=Crypto.new(9))
    with pytest.raises(ValueError):
        answer_sdp(with_crypto(neg, None), host="127.0.0.1", port=20000, session_id=7, version=2, crypto=ours)


# -- two real RTP sessions on 127.0.0.1 -----------------------------------------------------------

def neg_to(port: int) -> Negotiated:
    return Negotiated("PCMU", 0, 101, "127.0.0.1", port, "sendrecv")


async def until(check: Callable[[], bool], limit_s: float = 3.0) -> None:
    for _ in range(int(limit_s * 100)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_two_secured_sessions_hear_each_other() -> None:
    heard_a: list[bytes] = []
    heard_b: list[bytes] = []
    a, b = RtpSession(heard_a.append, lambda d: None), RtpSession(heard_b.append, lambda d: None)
    try:
        await a.open("127.0.0.1", 40000, 40999)
        await b.open("127.0.0.1", 40000, 40999)
        a_key, b_key = Crypto.new(1), Crypto.new(1)
        a.set_remote(neg_to(b.port))
        b.set_remote(neg_to(a.port))
        a.secure(SrtpContext(a_key, b_key))
        b.secure(SrtpContext(b_key, a_key))
        expected = g711.ulaw_decode(g711.ulaw_encode(TONE))
        a.send_audio(TONE * 5)
        b.send_audio(TONE[::-1] * 5)
        await until(lambda: expected in heard_b and g711.ulaw_decode(g711.ulaw_encode(TONE[::-1])) in heard_a)
        assert a.srtp is not None and b.srtp is not None
        assert a.srtp.protected > 0 and b.srtp.unprotected > 0 and a.srtp_failed == b.srtp_failed == 0
    finally:
        a.close()
        b.close()


async def test_what_a_secured_session_puts_on_the_wire_is_not_plain_rtp() -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as wire:
        wire.bind(("127.0.0.1", 0))
        wire.setblocking(False)
        a = RtpSession(lambda f: None, lambda d: None)
        try:
            await a.open("127.0.0.1", 40000, 40999)
            a_key, b_key = Crypto.new(1), Crypto.new(1)
            a.set_remote(neg_to(wire.getsockname()[1]))
            a.secure(SrtpContext(a_key, b_key))
            a.send_audio(TONE * 3)
            listener = SrtpContext(b_key, a_key)  # what the real peer would hold
            clear = g711.ulaw_encode(TONE)
            heard = False
            async with asyncio.timeout(3):
                while not heard:
                    data, _ = await loop.sock_recvfrom(wire, 2048)
                    assert len(data) == 12 + 160 + 10  # header, ciphertext, 80-bit tag
                    assert clear not in data and bytes(160) not in data
                    pkt = parse_rtp(listener.unprotect(data) or b"")
                    assert pkt is not None  # every datagram is valid SRTP under A's key
                    heard = pkt.payload == clear
        finally:
            a.close()


async def test_a_secured_session_drops_plain_rtp_even_from_its_peer() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        peer.bind(("127.0.0.1", 0))
        stranger.bind(("127.0.0.1", 0))
        b = RtpSession(lambda f: None, lambda d: None)
        try:
            await b.open("127.0.0.1", 40000, 40999)
            a_key, b_key = Crypto.new(1), Crypto.new(1)
            b.set_remote(neg_to(peer.getsockname()[1]))
            b.secure(SrtpContext(b_key, a_key))
            assert b.srtp is not None
            peer.sendto(rtp(10), ("127.0.0.1", b.port))
            await until(lambda: b.srtp_failed == 1)
            assert b.received == 0

            sender = SrtpContext(a_key, b_key)
            stranger.sendto(sender.protect(rtp(11)), ("127.0.0.1", b.port))  # the right key, the wrong address
            await until(lambda: b.rejected == 1)
            assert b.received == 0 and b.srtp.failed == 1  # locked out before any crypto work

            peer.sendto(sender.protect(rtp(12)), ("127.0.0.1", b.port))
            await until(lambda: b.received == 1)
            assert (b.srtp_failed, b.srtp.unprotected) == (1, 1)
        finally:
            b.close()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=120),
                 st.text(max_size=60).map(lambda t: f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}{t}"),
                 st.text(max_size=60).map(lambda t: f"1 AES_CM_128_HMAC_SHA1_80 inline:{t}")))
def test_fuzz_a_crypto_line_gives_a_crypto_or_none(value: str) -> None:
    c = Crypto.parse(value)
    assert c is None or (c.suite in SUITES and len(c.key) == 30 and Crypto.parse(c.line()) == c)
