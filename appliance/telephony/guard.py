"""Who may talk to the edge: a source allow-list and a per-source token-bucket rate limit.

Pure: `allow(ip, now)` takes the time from the caller.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict


class SourceGuard:
    def __init__(self, allowed: tuple[str, ...] | list[str], *, rate_per_s: float = 20.0, burst: float = 40.0,
                 max_sources: int = 4096) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in allowed]
        self.rate = rate_per_s
        self.burst = burst
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # ip -> (tokens, last)

    def allowed(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.networks)

    def allow(self, ip: str, now: float) -> str | None:
        """None if the message may be processed; otherwise why not ("source", "rate")."""
        if not self.allowed(ip):
            return "source"
        tokens, last = self._buckets.pop(ip, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        ok = tokens >= 1.0
        self._buckets[ip] = (tokens - 1.0 if ok else tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return None if ok else "rate"
