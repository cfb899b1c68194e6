"""The doctor's OPTIONS probe against loopback UDP peers that answer in particular ways (kamailio,
a well-behaved PBX, is in test_doctor.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from appliance.setup.sipprobe import probe
from appliance.telephony.sipmsg import SipMessage, parse
from tests.setup.conftest import free_port

Answer = Callable[[SipMessage], bytes | None]


@contextmanager
def peer(answer: Answer) -> Iterator[tuple[int, list[SipMessage]]]:
    """A UDP peer on loopback: every request it gets is kept, and `answer(request)` sent back."""
    got: list[SipMessage] = []
    stop = threading.Event()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            req = parse(data)
            assert isinstance(req, SipMessage), req
            got.append(req)
            reply = answer(req)
            if reply is not None:
                sock.sendto(reply, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], got
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


def test_a_sloppy_sip_stack_still_counts_as_an_answer() -> None:
    """A response with no Via is malformed, but it is SIP, for our Call-ID: something is there."""
    with peer(lambda req: f"SIP/2.0 404 Not Here\r\nCall-ID: {req.call_id}\r\nCSeq: 1 OPTIONS\r\n\r\n".encode()) \
            as (port, got):
        r = probe("127.0.0.1", port, timeout=2.0)
    assert r.answered and r.status == "SIP/2.0 404 Not Here", r
    [options] = got
    assert options.method == "OPTIONS" and options.uri == f"sip:127.0.0.1:{port}"
    assert options.get("Accept") == "application/sdp" and (options.get("Contact") or "").startswith("<sip:doctor@")


def test_answers_for_another_call_do_not_count_and_the_probe_resends() -> None:
    with peer(lambda req: b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\nCall-ID: other\r\n"
                          b"CSeq: 1 OPTIONS\r\n\r\n") as (port, got):
        r = probe("127.0.0.1", port, timeout=0.9, retries=3)
    assert not r.answered and not r.refused and "no SIP answer" in r.status, r
    assert len(got) >= 2 and len({m.call_id for m in got}) == 1  # the same request, sent again


def test_nothing_listening_is_refused() -> None:
    r = probe("127.0.0.1", free_port(), timeout=2.0)
    assert not r.answered and r.refused and "unreachable" in r.status, r
