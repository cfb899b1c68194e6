"""SIP parser/serialiser: well-formed, malformed, RFC 4475 torture messages, and a fuzz test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.telephony.sipmsg import (
    MAX_MESSAGE_BYTES,
    NameAddr,
    SipMessage,
    SipParseError,
    SipUri,
    Via,
    new_request,
    parse,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "sip"))
from rfc4475 import MESSAGES  # noqa: E402

INVITE = (
    b"INVITE sip:100@127.0.0.1:5070 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport\r\n"
    b"v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-0, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-x\r\n"
    b'From: "Jane, \\"J\\" Doe" <sip:5551234@pbx.local>;tag=abc\r\n'
    b"To: <sip:100@127.0.0.1>\r\n"
    b"Call-ID: call-1@host\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:5551234@127.0.0.1:5060>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\nv=0\r\nTRAILING"
)


def test_parse_request_and_headers() -> None:
    m = parse(INVITE)
    assert isinstance(m, SipMessage)
    assert (m.method, m.uri, m.call_id, m.cseq) == ("INVITE", "sip:100@127.0.0.1:5070", "call-1@host", (1, "INVITE"))
    assert m.body == b"v=0\r"  # Content-Length wins over what follows
    vias = m.get_all("via")
    assert len(vias) == 3 and Via.parse(vias[0]).params["rport"] is None
    fr = NameAddr.parse(m.get("From"))
    assert fr.display == 'Jane, "J" Doe' and fr.tag == "abc" and fr.sip_uri.user == "5551234"


def test_serialize_roundtrip() -> None:
    m = parse(INVITE)
    again = parse(m.serialize())
    assert again.headers == m.headers and again.body == m.body


@pytest.mark.parametrize(("local", "via_host"), [(("127.0.0.1", 5070), "127.0.0.1"), (("::1", 5070), "[::1]")])
def test_new_request_parses_back_with_the_required_headers(local: tuple[str, int], via_host: str) -> None:
    req = new_request("REGISTER", "sip:pbx.local:5060", via=local, from_uri="sip:100@pbx.local:5060", tag="t1",
                      to_uri="sip:100@pbx.local:5060", call_id="q@doctor", cseq=2, user_agent="ua")
    req.add("Expires", "0")
    m = parse(req.serialize())
    assert isinstance(m, SipMessage), m
    assert (m.method, m.uri, m.call_id, m.cseq) == ("REGISTER", "sip:pbx.local:5060", "q@doctor", (2, "REGISTER"))
    via = Via.parse(m.get("Via") or "")
    assert via is not None and (via.host, via.port) == (via_host, 5070) and "rport" in via.params
    assert via.branch and via.branch.startswith("z9hG4bK")
    assert NameAddr.parse(m.get("From") or "").tag == "t1" and NameAddr.parse(m.get("To") or "").tag is None
    assert (m.get("Max-Forwards"), m.get("User-Agent"), m.get("Expires"), m.get("Content-Length")) == ("70", "ua", "0", "0")
    again = new_request("REGISTER", "sip:pbx.local:5060", via=local, from_uri="sip:100@pbx.local:5060", tag="t1",
                        to_uri="sip:100@pbx.local:5060", call_id="q@doctor")
    assert Via.parse(again.get("Via") or "").branch != via.branch  # a new transaction each time
    assert again.get("User-Agent") is None and again.cseq == (1, "REGISTER")


def test_response_and_uri() -> None:
    r = parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nCall-ID: x\r\nCSeq: 2 INVITE\r\n\r\n")
    assert r and r.status == 180 and r.reason == "Ringing" and not r.is_request
    u = SipUri.parse("sip:alice@[::1]:5062;transport=udp;lr")
    assert u and u.host == "[::1]" and u.port == 5062 and u.param("lr") == "" and u.param("transport") == "udp"
    assert SipUri.parse("sip:bob@host:99999") is None


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"),
    (b"\r\n\r\n", "empty"),
    (b"HELLO", "bad request line"),
    (b"INVITE sip:a@b SIP/3.0\r\n\r\n", "unsupported SIP version"),
    (b"SIP/2.0 99 Low\r\n\r\n", "bad status code"),
    (INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), "CSeq method mismatch"),
    (INVITE.replace(b"Content-Length: 4", b"Content-Length: 400"), "Content-Length exceeds body"),
    (INVITE.replace(b"Call-ID: call-1@host\r\n", b""), "missing Call-ID"),
    (b"INVITE sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 200 + b"\r\n", "too many headers"),
    (b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: " + b"y" * MAX_MESSAGE_BYTES + b"\r\n\r\n", "too large"),
])
def test_malformed_gives_reason(data: bytes, reason: str) -> None:
    r = parse(data)
    assert isinstance(r, SipParseError) and not r and r.reason == reason


def test_parse_error_keeps_partial_for_400() -> None:
    r = parse(INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"))
    assert r.partial is not None and r.partial.call_id == "call-1@host"


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_rfc4475_torture_message(name: str) -> None:
    section, expected, data = MESSAGES[name]
    r = parse(data)
    if expected == "valid":
        assert isinstance(r, SipMessage), f"{section} {name}: {r!r}"
        assert r.serialize() and parse(r.serialize())
    else:
        # Invalid: the parser rejects it, or (application-layer faults: unknown URI scheme,
        # escaped headers in a Contact) the edge answers it 4xx; see test_edge_torture.
        assert isinstance(r, SipParseError) or name in {"unkscm", "novelsc", "regescrt"}, name


def test_rfc4475_covers_every_section() -> None:
    assert len(MESSAGES) == 49


_line = st.one_of(
    st.sampled_from([b"Via: SIP/2.0/UDP h;branch=z9hG4bKx", b"From: <sip:a@b>;tag=1", b"To: sip:c@d",
                     b"Call-ID: q", b"CSeq: 1 INVITE", b"Content-Length: 5", b"l: 0", b"Contact: *",
                     b'From: "x\\" <sip:a@b>', b"Max-Forwards: 70", b" folded", b"v: SIP/2.0/UDP [::1]:5"]),
    st.binary(max_size=60),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.sampled_from([b"INVITE sip:a@b SIP/2.0", b"SIP/2.0 200 OK", b"BYE x SIP/2.0", b""]),
       lines=st.lists(_line, max_size=12), body=st.binary(max_size=40), sep=st.sampled_from([b"\r\n", b"\n", b"\r"]))
def test_fuzz_parser_never_raises(start: bytes, lines: list[bytes], body: bytes, sep: bytes) -> None:
    data = sep.join([start, *lines]) + sep + sep + body
    r = parse(data)
    assert isinstance(r, (SipMessage, SipParseError))
    if isinstance(r, SipMessage):
        assert isinstance(parse(r.serialize()), (SipMessage, SipParseError))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data: bytes) -> None:
    assert isinstance(parse(data), (SipMessage, SipParseError))


# -- hostile sizes: limits, and work linear in the input (issue 21) ------------------------------

_HOSTILE = {  # header values built to make a backtracking parser do quadratic work
    "From-spaces": lambda n: "x" + " " * n + "x",
    "From-tabs-angle": lambda n: "a" + "\t" * n + "b <",
    "To-quote": lambda n: '"' + "\\" * n,
    "Via-spaces": lambda n: "SIP/2.0/UDP h" + " " * n + "x",
    "Contact-host": lambda n: "<sip:" + "a" * n + "!>",
    "Via-params": lambda n: "SIP/2.0/UDP h;" + "a=" * (n // 2),
}


def _hostile_message(kind: str, n: int) -> bytes:
    header, value = kind.split("-", 1)[0], _HOSTILE[kind](n)
    base = {"Via": "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKq", "From": "<sip:a@b>;tag=1", "To": "<sip:c@d>",
            "Contact": "<sip:a@127.0.0.1>"}
    base[header] = value
    lines = ["INVITE sip:c@d SIP/2.0", *(f"{k}: {v}" for k, v in base.items()), "Call-ID: q", "CSeq: 1 INVITE"]
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def _best_of(fn, repeats: int = 3) -> float:
    import time

    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


@pytest.mark.parametrize("kind", sorted(_HOSTILE))
def test_parse_time_grows_linearly_with_a_hostile_header(kind: str) -> None:
    """64 KB of a hostile header costs about 64 times what 1 KB costs, not 4096 times.
    Compared in the same run (the small input parsed 64 times against the large one once), so the
    bound holds on a slow or busy machine; generous: twice the size ratio."""
    small, large = _hostile_message(kind, 1024), _hostile_message(kind, 64 * 1024)
    ratio = len(large) / len(small)
    limits = {"max_bytes": 1 << 20, "max_header_line": 1 << 20}  # lift the limits: measure the parser itself
    t_small = _best_of(lambda: [parse(small, **limits) for _ in range(round(ratio))])
    t_large = _best_of(lambda: parse(large, **limits))
    assert t_large <= 2 * t_small, f"{kind}: 64 KB took {t_large / t_small * ratio:.0f}x the time of 1 KB"


def test_header_limits_are_enforced() -> None:
    long_line = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\n" \
        b"To: <sip:a@b>\r\nCall-ID: q\r\nCSeq: 1 OPTIONS\r\nSubject: " + b"s" * 5000 + b"\r\n\r\n"
    r = parse(long_line)
    assert isinstance(r, SipParseError) and r.reason == "header too long"
    assert r.partial is not None and r.partial.call_id == "q"  # still answerable (400)
    huge = long_line.replace(b"s" * 5000, b"s" * 3000) + b"x" * MAX_MESSAGE_BYTES
    r = parse(huge.replace(b"\r\n\r\n", b"\r\nContent-Length: 20000\r\n\r\n"))
    assert isinstance(r, SipParseError) and r.reason == "too large"
    assert r.partial is not None and r.partial.call_id == "q" and r.partial.method == "OPTIONS"  # answerable: 513
    r = parse(b"INVITE sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 200 + b"Call-ID: late\r\n\r\n")
    assert isinstance(r, SipParseError) and r.reason == "too many headers" and r.partial.call_id == ""


_hostile_text = st.text(alphabet=st.sampled_from(list(' \t"\\<>;:=@,[]/.!%aZ09\r\n\x00\u00e9\u2028')), max_size=300)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["From", "To", "Via", "Contact", "Route", "CSeq", "Content-Length", "X-Any"]),
       value=_hostile_text, repeat=st.integers(1, 40))
def test_fuzz_hostile_header_values_give_a_message_or_a_parse_error(name: str, value: str, repeat: int) -> None:
    data = (f"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKz\r\nFrom: <sip:a@b>;tag=1\r\n"
            f"To: <sip:c@d>\r\nCall-ID: f\r\nCSeq: 1 INVITE\r\n{name}: {value * repeat}\r\n\r\n").encode(
        "utf-8", "surrogateescape")
    assert isinstance(parse(data), (SipMessage, SipParseError))
    for parser, cls in ((NameAddr.parse, NameAddr), (SipUri.parse, SipUri), (Via.parse, Via)):
        result = parser(value * repeat)  # the value parsers: a value or None, never an exception
        assert result is None or isinstance(result, cls)
