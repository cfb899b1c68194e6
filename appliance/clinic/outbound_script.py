"""Scripted outbound calls for `appliance converse --script`: the `outbound:` section of a script
(played by `appliance.clinic.script.run_script`).

    now: 2025-03-08T10:30             # clinic local time of the call
    caller: {name: Dana Lee, phone: "+1 555 010 2233", procedure: neuromodulator-botox,
             product: Botox, area: forehead, date: 2025-03-07}
    outbound: {kind: check-in, day: 1, dob: 1985-04-12}   # written: email (instructions sent in writing)
    turns: [Dana Lee, April 12 1985, "no, all good", ...]   # the patient's answers
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OutboundSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["check-in", "review", "touch-up", "recall", "series"] = "check-in"
    day: int = Field(1, ge=0, le=730)
    dob: dt.date
    approved_lines: bool = False  # require the clinician approval of outbound/lines.yaml (calls always do)
    written: Literal["sms", "email"] | None = None  # the instructions were sent in writing (day 1 asks if they arrived)
