"""How long the event loop spends handling SIP datagrams: the longest single datagram and the
busiest window (by default 100 ms, the gap a caller would hear as a stall of the agent's audio).

Pure: `add(start, seconds)` takes the handling interval from the caller. `take()` returns the
figures since the last `take()` and starts a new period. Media shares the event loop with SIP, so
a hostile datagram could only delay the agent's RTP by more than `window_s` if SIP handling kept
the loop busy for `window_s` within one window: these figures bound what parsing can cause.
The transport gives the handler's own CPU time (`time.thread_time`): wall time would also count
the moments the machine gave the CPU to another process, which parsing did not cause.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class BusyFigures:
    datagrams: int
    total_ms: float
    max_ms: float
    busiest_window_ms: float  # the most handling time inside any window of `window_s`

    def as_log(self) -> dict[str, float | int]:
        return {"datagrams": self.datagrams, "handling_ms": round(self.total_ms, 2),
                "max_datagram_ms": round(self.max_ms, 3), "busiest_100ms_ms": round(self.busiest_window_ms, 3)}


class BusyMeter:
    def __init__(self, window_s: float = 0.1) -> None:
        self.window_s = window_s
        self._recent: deque[tuple[float, float]] = deque()  # (end, seconds) inside the sliding window
        self._sum = 0.0
        self._reset()

    def _reset(self) -> None:
        self.count = 0
        self.total = 0.0
        self.longest = 0.0
        self.busiest = 0.0

    def add(self, start: float, seconds: float) -> None:
        end = start + seconds
        self._recent.append((end, seconds))
        self._sum += seconds
        while self._recent and self._recent[0][0] <= end - self.window_s:
            self._sum -= self._recent.popleft()[1]
        self.count += 1
        self.total += seconds
        self.longest = max(self.longest, seconds)
        self.busiest = max(self.busiest, min(self._sum, self.window_s))

    def take(self) -> BusyFigures:
        figures = BusyFigures(self.count, self.total * 1000, self.longest * 1000, self.busiest * 1000)
        self._reset()
        return figures
