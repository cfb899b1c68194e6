"""Loopback ports for test and benchmark peers.

A port is handed out only if UDP and TCP are both free on it and TCP on the next port too: baresip
and kamailio listen on SIP/UDP and SIP/TCP at the port, and baresip on SIP/TLS at port + 1.
Ports come from 12000-19999, below the kernel's ephemeral range (32768-60999), so a socket bound
to port 0 or an outgoing connection can never take a port between the check and its use, and
outside every RTP range the tests and benchmarks configure (20000-20999 by default, 30000+ in
tests). A port is handed out once per process.
"""
from __future__ import annotations

import os
import random
import socket

LOW, HIGH = 12000, 19998
_given: set[int] = set()
_rng = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "big"))


def _free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port on 127.0.0.1 free for UDP and TCP (and TCP on port + 1). `kind` is accepted for
    callers that name the protocol they will use; every port is checked for both."""
    del kind
    for _ in range(500):
        port = _rng.randrange(LOW, HIGH)
        if port in _given or port + 1 in _given:
            continue
        if _free(port, socket.SOCK_DGRAM) and _free(port, socket.SOCK_STREAM) and _free(port + 1, socket.SOCK_STREAM):
            _given.update((port, port + 1))
            return port
    raise RuntimeError(f"no free port on 127.0.0.1 in {LOW}-{HIGH}")
