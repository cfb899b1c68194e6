"""How long the event loop spends handling SIP datagrams: the longest single datagram and the
busiest window (by default 100 ms, the gap a caller would hear as a stall of the agent's audio).

Pure: `add(start, seconds)` takes the handling interval from the caller. `take()` returns the
figures since the last `take()` and starts a new period. Media shares the event loop with SIP, so
a hostile datagram could only delay the agent's RTP by more than `window_s` if SIP handling kept
the loop busy for `window_s` within one window: these figures bound what parsing can cause.
The transport gives the handler's own CPU time (`time.thread_time`): wall time would also count
the moments the machine gave the CPU to another process, which parsing did not cause. A garbage
collection that happens to start inside a handler is not the handler's work either (any allocation
anywhere can start one): `GcClock` measures collections per thread, the transport takes them out of
the handler's time, and the longest collection is reported on its own.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class BusyFigures:
    datagrams: int
    total_ms: float
    max_ms: float
    busiest_window_ms: float  # the most handling time inside any window of `window_s`
    max_gc_ms: float = 0.0  # the longest garbage collection that started inside a handler

    def as_log(self) -> dict[str, float | int]:
        return {"datagrams": self.datagrams, "handling_ms": round(self.total_ms, 2),
                "max_datagram_ms": round(self.max_ms, 3), "busiest_100ms_ms": round(self.busiest_window_ms, 3),
                "max_gc_in_handler_ms": round(self.max_gc_ms, 3)}


class GcClock:
    """CPU time spent in garbage collection, per thread (`gc.callbacks`). One per process: `CLOCK`."""

    def __init__(self) -> None:
        self._started: dict[int, float] = {}
        self._spent: dict[int, float] = {}
        self._installed = False

    def install(self) -> None:
        if not self._installed:
            gc.callbacks.append(self._callback)
            self._installed = True

    def _callback(self, phase: str, _info: dict[str, int]) -> None:
        ident = threading.get_ident()
        if phase == "start":
            self._started[ident] = time.thread_time()
        elif (began := self._started.pop(ident, None)) is not None:
            self._spent[ident] = self._spent.get(ident, 0.0) + time.thread_time() - began

    def spent(self) -> float:
        """Seconds this thread has spent collecting since `install`."""
        return self._spent.get(threading.get_ident(), 0.0)


CLOCK = GcClock()


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
        self.gc_longest = 0.0

    def add(self, start: float, seconds: float, gc_seconds: float = 0.0) -> None:
        """A handler's `seconds` of CPU time from `start`, of which `gc_seconds` collecting."""
        self.gc_longest = max(self.gc_longest, gc_seconds)
        seconds = max(0.0, seconds - gc_seconds)
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
        figures = BusyFigures(self.count, self.total * 1000, self.longest * 1000, self.busiest * 1000,
                              self.gc_longest * 1000)
        self._reset()
        return figures
