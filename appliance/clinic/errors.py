"""Typed errors of the clinic layer (stable codes, with a fix)."""

from __future__ import annotations

from appliance.errors import ApplianceError


class PackError(ApplianceError):
    """The pack does not load or does not match the schema; `problems` holds one line per error."""

    code = "pack-invalid"

    def __init__(self, message: str, *, problems: list[str] | None = None, fix: str | None = None,
                 code: str | None = None) -> None:
        self.problems = list(problems or [])
        body = message + ("".join(f"\n  {p}" for p in self.problems) if self.problems else "")
        super().__init__(body, fix=fix, code=code)


class PackNotApproved(ApplianceError):
    """The pack has no valid clinician approval (missing, or content changed since approval)."""

    code = "pack-unapproved"


class SlotTaken(ApplianceError):
    """The slot was booked by someone else in the meantime (no double booking)."""

    code = "slot-taken"
