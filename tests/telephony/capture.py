"""A packet capture on the loopback interface (AF_PACKET, needs root, as CI runs): what an
eavesdropper on the LAN would record. Bounded: it stops on `stop()` or after `max_packets`."""

from __future__ import annotations

import math
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass

ETH_P_ALL = 0x0003


@dataclass(frozen=True)
class Packet:
    proto: str  # "tcp" | "udp"
    sport: int
    dport: int
    payload: bytes


def entropy_bits(data: bytes) -> float:
    """Shannon entropy per byte: ~8 for ciphertext, far lower for G.711 speech or SIP text."""
    if not data:
        return 0.0
    counts, n = Counter(data), len(data)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


class LoopbackCapture:
    def __init__(self, max_packets: int = 200_000) -> None:
        self.packets: list[Packet] = []
        self.max_packets = max_packets
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def __enter__(self) -> LoopbackCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.packets) < self.max_packets:
            try:
                frame, meta = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if meta[2] == socket.PACKET_OUTGOING:
                continue  # each loopback packet is seen leaving and arriving: keep one
            packet = _parse(frame)
            if packet is not None:
                self.packets.append(packet)

    def between(self, ports: set[int], proto: str) -> list[Packet]:
        return [p for p in list(self.packets) if p.proto == proto and (p.sport in ports or p.dport in ports)]

    def sent_to(self, ports: list[int]) -> int:
        """UDP datagrams that arrived at any of `ports`."""
        return sum(1 for p in list(self.packets) if p.proto == "udp" and p.dport in ports)

    def sent_from(self, ports: list[int]) -> dict[tuple[int, int], int]:
        """UDP datagrams sent from any of `ports`, by (source port, destination port)."""
        return dict(Counter((p.sport, p.dport) for p in list(self.packets) if p.proto == "udp" and p.sport in ports))


def _parse(frame: bytes) -> Packet | None:
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":  # IPv4 only (the tests use 127.0.0.1)
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    proto = ip[9]
    body = ip[ihl:total]
    if proto == 17 and len(body) >= 8:
        sport, dport = struct.unpack("!HH", body[:4])
        return Packet("udp", sport, dport, body[8:])
    if proto == 6 and len(body) >= 20:
        sport, dport = struct.unpack("!HH", body[:4])
        offset = (body[12] >> 4) * 4
        return Packet("tcp", sport, dport, body[offset:])
    return None
