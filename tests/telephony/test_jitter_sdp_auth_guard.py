"""Jitter buffer, SDP offer/answer, digest auth, source guard: pure logic, no clock, no I/O."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.telephony.digest import authorization, digest_response, parse_challenge
from appliance.telephony.guard import SourceGuard
from appliance.telephony.jitter import JitterBuffer
from appliance.telephony.sdp import SdpError, answer_sdp, negotiate, offer_sdp, parse_sdp


def frame(n: int) -> bytes:
    return bytes([n % 256]) * 320


def test_jitter_reorders_and_wraps() -> None:
    jb = JitterBuffer(prefetch=3)
    for s in (65534, 0, 65535, 1, 2):
        jb.push(s, frame(s))
    out = [jb.pop() for _ in range(5)]
    assert out == [frame(65534), frame(65535), frame(0), frame(1), frame(2)]
    assert jb.pop() is None  # empty: underrun, refill
    assert jb.stats.underruns == 1


def test_jitter_conceals_loss_then_silence() -> None:
    jb = JitterBuffer(prefetch=2)
    for s in (10, 14):
        jb.push(s, b"\x10\x00" * 160)
    assert jb.pop() == b"\x10\x00" * 160
    assert jb.pop() == b"\x08\x00" * 160  # repeat at half gain
    assert jb.pop() == bytes(320)  # then silence
    assert jb.pop() == bytes(320)
    assert jb.pop() == b"\x10\x00" * 160
    assert jb.stats.concealed == 3


def test_jitter_drops_late_and_duplicates_and_resets_on_jump() -> None:
    jb = JitterBuffer(prefetch=1)
    jb.push(100, frame(1))
    jb.push(100, frame(1))
    assert jb.pop() == frame(1)
    jb.push(99, frame(9))
    assert jb.stats.late == 1 and jb.stats.duplicate == 1
    jb.push(30000, frame(3))
    assert jb.stats.resets == 1
    assert jb.pop() == frame(3)


def test_jitter_bounded_capacity() -> None:
    jb = JitterBuffer(prefetch=100, capacity=10)
    for s in range(30):
        jb.push(s, frame(s))
    assert len(jb) == 10


OFFER = b"""v=0\r
o=- 1 1 IN IP4 192.0.2.5\r
s=-\r
c=IN IP4 192.0.2.5\r
t=0 0\r
m=audio 4000 RTP/AVP 9 8 0 101\r
a=rtpmap:9 G722/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=sendonly\r
"""


def test_sdp_answer_picks_first_supported_codec_and_mirrors_hold() -> None:
    offer = parse_sdp(OFFER)
    neg = negotiate(offer)
    assert neg is not None
    assert (neg.codec, neg.payload_type, neg.event_pt) == ("PCMA", 8, 101)
    assert (neg.remote_host, neg.remote_port, neg.on_hold) == ("192.0.2.5", 4000, True)
    ans = parse_sdp(answer_sdp(neg, host="127.0.0.1", port=20000, session_id=7, version=2))
    assert ans.payload_types == [8, 101] and ans.direction == "recvonly" and ans.port == 20000


def test_sdp_offer_roundtrip_and_rejections() -> None:
    offer = parse_sdp(offer_sdp(host="127.0.0.1", port=20002, session_id=1))
    assert offer.payload_types == [0, 8, 101]
    assert negotiate(offer).codec == "PCMU"
    assert negotiate(parse_sdp(OFFER.replace(b"9 8 0 101", b"9 101"))) is None
    for bad in (b"", b"v=0\r\nm=video 1 RTP/AVP 31\r\n", OFFER.replace(b"4000", b"0"),
                b"m=audio 4000 RTP/AVP 0\r\n"):
        try:
            parse_sdp(bad)
            raise AssertionError(bad)
        except ValueError:
            pass


def test_digest_matches_rfc2617_example() -> None:
    # RFC 2617 §3.5 worked example (HTTP, but the arithmetic is the same).
    assert digest_response(username="Mufasa", password="Circle Of Life", realm="testrealm@host.com",
                           nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", method="GET", uri="/dir/index.html",
                           qop="auth", nc="00000001", cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


def test_digest_agrees_with_pyvoip_without_qop() -> None:
    import pyVoIP.VoIP  # noqa: F401
    from pyVoIP.SIP import SIPClient

    client = SIPClient.__new__(SIPClient)
    client.username, client.password, client.server = "alice", "s3cret", "pbx.example"
    req = type("R", (), {"authentication": {"realm": "pbx", "nonce": "abc"},
                         "headers": {"CSeq": {"method": "REGISTER"}}})()
    theirs = client.gen_authorization(req).decode()
    ours = digest_response(username="alice", password="s3cret", realm="pbx", nonce="abc",
                           method="REGISTER", uri="sip:pbx.example;transport=UDP")
    assert ours == theirs


def test_challenge_parse_and_authorization_header() -> None:
    ch = parse_challenge('Digest realm="clinic", nonce="n0nce", qop="auth,auth-int", opaque="op", algorithm=MD5')
    assert ch and ch.qop == ("auth", "auth-int") and ch.opaque == "op"
    hdr = authorization(ch, username="100", password="pw", method="INVITE", uri="sip:200@pbx", cnonce="c")
    ha1 = hashlib.md5(b"100:clinic:pw").hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:200@pbx").hexdigest()
    expected = hashlib.md5(f"{ha1}:n0nce:00000001:c:auth:{ha2}".encode()).hexdigest()
    assert f'response="{expected}"' in hdr and "qop=auth" in hdr and 'opaque="op"' in hdr
    assert parse_challenge("Basic realm=x") is None
    assert parse_challenge('Digest realm="x", nonce="y", algorithm=SHA-256') is None
    assert parse_challenge("Digest") is None


def test_guard_allow_list_and_rate_limit() -> None:
    g = SourceGuard(["10.0.0.0/24", "127.0.0.1"], rate_per_s=2, burst=3)
    assert g.allow("10.0.1.1", 0.0) == "source"
    assert g.allow("not-an-ip", 0.0) == "source"
    assert [g.allow("10.0.0.9", 0.0) for _ in range(4)] == [None, None, None, "rate"]
    assert g.allow("127.0.0.1", 0.0) is None  # per source
    assert g.allow("10.0.0.9", 0.5) is None  # refilled one token
    assert g.allow("10.0.0.9", 0.5) == "rate"


# -- SDP from a hostile peer: SdpError or a usable stream, nothing else (issue 21) -----------------

_SDP_LINE = st.one_of(
    st.sampled_from(["v=0", "c=IN IP4 127.0.0.1", "c=IN IP6 ::1", "c=IN IP4 pbx.example.com", "c=IN IP4 0.0.0.0",
                     "m=audio 4000 RTP/AVP 0 8 101", "m=audio 99999 RTP/AVP 0", "m=video 5000 RTP/AVP 96",
                     "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=sendonly", "a=ptime:20",
                     "a=ptime:\u00b2", "a=rtpmap:" + "9" * 5000 + " PCMU/8000", "m=audio 1 RTP/AVP " + "1" * 5000]),
    st.text(max_size=80).map(lambda t: "a=" + t), st.text(max_size=80).map(lambda t: "m=" + t),
    st.text(max_size=80).map(lambda t: "c=" + t),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_SDP_LINE, max_size=12))
def test_fuzz_sdp_gives_a_stream_or_sdp_error(lines: list[str]) -> None:
    try:
        media = parse_sdp("\r\n".join(lines).encode("utf-8", "surrogateescape"))
    except SdpError:
        return
    assert 0 < media.port < 65536 and media.host  # an IP literal (checked by the parser)
