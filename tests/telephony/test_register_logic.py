"""Registration timing (pure): refresh before expiry, exponential back-off, granted expiry."""

from __future__ import annotations

from appliance.telephony.register import granted_expiry, schedule
from appliance.telephony.sipmsg import parse


def test_refresh_before_expiry() -> None:
    assert schedule(ok=True, granted_s=300, failures=0) == 240
    assert schedule(ok=True, granted_s=20, failures=0) == 15
    assert schedule(ok=True, granted_s=3, failures=0) == 1.0


def test_backoff_doubles_and_caps() -> None:
    assert [schedule(ok=False, granted_s=None, failures=n) for n in (1, 2, 3, 4, 7, 30)] == [1, 2, 4, 8, 60, 60]
    # a PBX down for days: still 60 s (2 ** 1025 used to overflow the float conversion)
    assert schedule(ok=False, granted_s=None, failures=1100) == schedule(ok=False, granted_s=None, failures=10**6) == 60


def test_granted_expiry_prefers_our_contact_param() -> None:
    resp = parse(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nCall-ID: r\r\nCSeq: 1 REGISTER\r\n"
                 b"Contact: <sip:other@h>;expires=10, <sip:100@127.0.0.1:5070>;expires=90\r\nExpires: 300\r\n\r\n")
    assert granted_expiry(resp, "sip:100@127.0.0.1:5070", 60) == 90
    assert granted_expiry(resp, "sip:nobody@h", 60) == 300
