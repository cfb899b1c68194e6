"""A call's documentation checklist: its workflow's `documentation.required` items, each filled
from the call where the call can fill it, else left for staff ("to document").

Which requirement the call can fill is explicit: `FROM_CALL` maps a requirement's wording (case
and spacing aside) to what the call supplies. Any item not in it (product, lot number, injector,
device settings ...) only staff can fill. Pure: no clock, no I/O.

  instructions    the workflow's approved instruction lines the caller heard in full, by id
  concern         the concern the caller reported
  escalations     the escalations the call raised, with their ids
  response_time   minutes from each escalation to its acknowledgement by staff, when known
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

FROM_CALL: dict[str, tuple[str, ...]] = {
    "aftercare instructions delivered": ("instructions",),
    "instructions delivered": ("instructions",),
    "urgent contact path delivered": ("instructions",),
    "concerns raised and escalations": ("concern", "escalations", "response_time"),
    "concern reported": ("concern",),
    "concerns raised": ("concern",),
    "escalations": ("escalations", "response_time"),
    "escalation raised": ("escalations",),
    "response time": ("response_time",),
}
TO_DOCUMENT = "to document"


def fills_of(item: str) -> tuple[str, ...]:
    """What the call fills for a requirement item; () when only staff can."""
    return FROM_CALL.get(" ".join(item.lower().split()), ())


def _minutes(since: str, until: str) -> float:
    return (datetime.fromisoformat(until) - datetime.fromisoformat(since)).total_seconds() / 60


def _part(fill: str, instructions: list[str], summary: dict[str, Any],
          escalations: list[dict[str, Any]]) -> tuple[bool, str]:
    if fill == "instructions":
        said = [i for i in summary.get("said") or [] if i in instructions]
        return (True, "delivered: " + ", ".join(said)) if said else (False, "not delivered on this call")
    if fill == "concern":
        concern = summary.get("concern")
        return True, f"reported: {concern}" if concern else "none reported"
    if fill == "escalations":
        if not escalations:
            return True, "none raised"
        return True, "; ".join(f"escalation #{x['id']} ({x['severity']}, {x['category']}"
                               + (f", {x['detail']}" if x.get("detail") else "") + ")" for x in escalations)
    if fill == "response_time":
        if not escalations:
            return True, "no escalation"
        parts = [f"#{x['id']} acknowledged after {_minutes(x['created_at'], x['acknowledged_at']):.0f} min"
                 + (f" by {x['acknowledged_by']}" if x.get("acknowledged_by") else "")
                 if x.get("acknowledged_at") else f"#{x['id']} not acknowledged yet" for x in escalations]
        return all(x.get("acknowledged_at") for x in escalations), "; ".join(parts)
    raise ValueError(f"unknown checklist fill {fill!r}")


def checklist(requirement: dict[str, Any], summary: dict[str, Any], escalations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each required item: `source` "call" (filled from the call: `filled`, `value`) or "staff"
    (`value` "to document"). `requirement`: {"required": [...], "instructions": [line ids]}."""
    items = []
    instructions = list(requirement.get("instructions") or [])
    for item in requirement["required"]:
        fills = fills_of(item)
        if not fills:
            items.append({"item": item, "source": "staff", "filled": False, "value": TO_DOCUMENT})
            continue
        parts = [_part(f, instructions, summary, escalations) for f in fills]
        items.append({"item": item, "source": "call", "filled": all(ok for ok, _ in parts),
                      "value": "; ".join(text for _, text in parts)})
    return items
