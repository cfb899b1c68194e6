"""The clinic's wall clock for calls and paging, and its one test hook.

`clinic_now(pack)` is the clinic's local time (naive), the engine's `now` for every call of
`appliance run` and the pager's "who is on call now".

Test hook: `APPLIANCE_DEMO_CLINIC_TIME` sets that clock for a *demo* pack only (`pack.demo:
true` in clinic.yaml; such a pack answers test calls only, see appliance.golive). The value is
a local time, `2025-03-12T02:00` (the clock stands still there), or `open`: the real time while
the clinic is open, else its next opening time (the test suite runs this way, so a test written
for opening hours passes at 2 a.m. too). A clinic's own pack (`demo: false`) ignores it, so no
patient call can run on a made-up clock, whatever the environment says.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from appliance.clinic.after_hours import is_open, next_opening

ENV = "APPLIANCE_DEMO_CLINIC_TIME"


def clinic_now(pack: Any) -> datetime:
    real = datetime.now(ZoneInfo(pack.clinic.timezone)).replace(tzinfo=None)
    hook = os.environ.get(ENV, "").strip()
    if not hook or not pack.clinic.pack.demo:
        return real
    if hook == "open":
        return real if is_open(pack.clinic, real) else (next_opening(pack.clinic, real) or real)
    try:
        return datetime.fromisoformat(hook).replace(tzinfo=None)
    except ValueError as e:
        raise ValueError(f"{ENV}={hook!r}: expected a local time such as 2025-03-12T02:00, or open") from e
