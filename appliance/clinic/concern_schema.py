"""`outbound.yaml` `concern_follow_up`: the call that follows up on a concern staff resolved.

    concern_follow_up:
      after_hours: 24        # hours after staff resolve the escalation (1-720); the call is placed
                             # at the next allowed call time from then
      within_hours: 48       # optional (1-336, default 48): not placed within this many hours of
                             # its first call time, it is dropped (attempts and retries as usual)
      intro: ...             # after identity: the call follows up on the concern they told us about
      ask: ...               # better, the same, or worse? (1 / 2 / 3 on the keypad)
      better: ...            # recorded; nothing is offered or sold on this call
      same_or_worse: ...     # escalated again: staff call back
      unclear: ...           # asked once more; a second unclear answer is escalated too
      closing: ...           # the last line

Placeholders: {clinic} {phone} {date} (the day the concern was raised). The appliance never
decides a concern is normal: anything but a clear "better" (or a red flag, on any turn) goes to
staff again as a new escalation.
"""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

FOLLOW_UP_PLACEHOLDERS = frozenset({"clinic", "phone", "date"})
Text = Annotated[str, StringConstraints(min_length=1, max_length=600, strip_whitespace=True)]
FollowUpKey = Literal["intro", "ask", "better", "same_or_worse", "unclear", "closing"]
MAX_AFTER_HOURS = 720  # 30 days
MAX_WITHIN_HOURS = 336  # 14 days


class ConcernFollowUp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    after_hours: int
    within_hours: int = 48
    intro: Text
    ask: Text
    better: Text
    same_or_worse: Text
    unclear: Text
    closing: Text

    @field_validator("after_hours", mode="before")
    @classmethod
    def _after(cls, v: object) -> object:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_AFTER_HOURS:
            raise ValueError(f"expected a whole number of hours from 1 to {MAX_AFTER_HOURS} after the concern is "
                             "resolved, for example `after_hours: 24`")
        return v

    @field_validator("within_hours", mode="before")
    @classmethod
    def _within(cls, v: object) -> object:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_WITHIN_HOURS:
            raise ValueError(f"expected a whole number of hours from 1 to {MAX_WITHIN_HOURS} in which the call may be "
                             "placed, for example `within_hours: 48`")
        return v

    @field_validator("intro", "ask", "better", "same_or_worse", "unclear", "closing")
    @classmethod
    def _placeholders(cls, text: str) -> str:
        used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        if used - FOLLOW_UP_PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{sorted(used - FOLLOW_UP_PLACEHOLDERS)[0]}}}; expected one of "
                             f"{', '.join('{' + p + '}' for p in sorted(FOLLOW_UP_PLACEHOLDERS))}")
        return text

    def text(self, key: FollowUpKey) -> str:
        """The line `key`."""
        return {"intro": self.intro, "ask": self.ask, "better": self.better, "same_or_worse": self.same_or_worse,
                "unclear": self.unclear, "closing": self.closing}[key]


__all__ = ["FOLLOW_UP_PLACEHOLDERS", "ConcernFollowUp", "FollowUpKey"]
