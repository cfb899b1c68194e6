"""Log lines that a peer can trigger at will, bounded: at most `burst` per key in `window_s`.

Pure: `allow(key, now)` takes the time from the caller. When a key is allowed again after
some lines were held back, `allow` returns how many, so the next line can say so.
"""

from __future__ import annotations

from collections import OrderedDict


class LogLimiter:
    def __init__(self, burst: int = 5, window_s: float = 10.0, max_keys: int = 256) -> None:
        self.burst = burst
        self.window_s = window_s
        self.max_keys = max_keys
        self._state: OrderedDict[str, tuple[float, int, int]] = OrderedDict()  # key -> (window start, sent, held)

    def allow(self, key: str, now: float) -> int | None:
        """None: drop this line. Otherwise log it, with the returned count of lines held back."""
        start, sent, held = self._state.pop(key, (now, 0, 0))
        if now - start >= self.window_s:
            start, sent = now, 0
        if sent < self.burst:
            self._state[key] = (start, sent + 1, 0)
            out: int | None = held
        else:
            self._state[key] = (start, sent, held + 1)
            out = None
        while len(self._state) > self.max_keys:
            self._state.popitem(last=False)
        return out
