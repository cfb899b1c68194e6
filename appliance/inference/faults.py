"""Test-only fault injection for model workers: a real native crash, on demand.

`APPLIANCE_TEST_FAULT="ROLE:STAGE[:N[:hang]][,…]"` in a worker's environment makes the worker
die with SIGSEGV (a read of address 0 through ctypes, the same death as a crash in native
model code), or hang for good with `:hang`, when ROLE reaches STAGE: `load`, `selftest`, or
`call` (the Nth request of that role, default the first). `signal:usr1` makes SIGUSR1 crash
the worker the same way, so a test can crash it at a moment of its choosing.
With `APPLIANCE_TEST_FAULT_MARK=PATH` the crash happens once: the file is created just
before it, and a restarted worker that finds it does not crash again.
Unset in production: nothing here runs unless the variable is set.
"""

from __future__ import annotations

import ctypes
import os
import threading

_counts: dict[str, int] = {}
_lock = threading.Lock()


def _rules() -> list[tuple[str, str, int, str]]:
    spec = os.environ.get("APPLIANCE_TEST_FAULT", "")
    out = []
    for item in filter(None, (p.strip() for p in spec.split(","))):
        parts = item.split(":")
        if len(parts) >= 2:
            nth = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
            out.append((parts[0], parts[1], nth, parts[3] if len(parts) > 3 else "segv"))
    return out


def maybe_crash(role: str, stage: str) -> None:
    rules = _rules()
    if not rules:
        return
    with _lock:
        _counts[f"{role}:{stage}"] = n = _counts.get(f"{role}:{stage}", 0) + 1
    for r, s, nth, action in rules:
        if r == role and s == stage and n == nth:
            mark = os.environ.get("APPLIANCE_TEST_FAULT_MARK")
            if mark:
                if os.path.exists(mark):
                    return
                with open(mark, "w") as f:
                    f.write(f"{role}:{stage}:{n}\n")
            if action == "hang":
                threading.Event().wait()  # never set: the request is never answered
            ctypes.string_at(0)  # SIGSEGV: the process dies as native code would


def install_signal_trigger() -> None:
    """With `signal:usr1` in the fault spec, SIGUSR1 crashes this worker natively."""
    if any(r == "signal" for r, *_ in _rules()):
        import signal

        signal.signal(signal.SIGUSR1, lambda *_: ctypes.string_at(0))
