"""`outbound.yaml` `satisfaction`: the patient-satisfaction question of a treatment's last check-in.

    satisfaction:
      ask: ...            # after "no concern" on the last check-in: a number from 1 to 5, said or pressed
      reask: ...          # once, when the answer was not a number from 1 to 5 ("pretty good")
      thanks: ...         # after a number (stored on the treatment's aftercare plan)
      skipped: ...        # the second answer was not a number either: nothing is stored, the call goes on
      review_thanks: ...  # optional: the patient says they left the review they were asked for

Asked only when no concern, complaint, red flag or escalation came up on that call or earlier in
that treatment's follow-up (appliance/clinic/satisfaction.py). Placeholders: {clinic} {phone}.
"""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

SATISFACTION_PLACEHOLDERS = frozenset({"clinic", "phone"})
Text = Annotated[str, StringConstraints(min_length=1, max_length=600, strip_whitespace=True)]
SatisfactionKey = Literal["ask", "reask", "thanks", "skipped", "review_thanks"]


class Satisfaction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ask: Text
    reask: Text
    thanks: Text
    skipped: Text
    review_thanks: Text | None = None

    @field_validator("ask", "reask", "thanks", "skipped", "review_thanks")
    @classmethod
    def _placeholders(cls, text: str | None) -> str | None:
        used = {f for _, f, _, _ in string.Formatter().parse(text or "") if f is not None}
        if used - SATISFACTION_PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{sorted(used - SATISFACTION_PLACEHOLDERS)[0]}}}; expected "
                             "{clinic} or {phone} (the patient's treatment and answers are never read out here)")
        return text

    def text(self, key: SatisfactionKey) -> str | None:
        """The line `key` (None: `review_thanks` left out)."""
        return {"ask": self.ask, "reask": self.reask, "thanks": self.thanks, "skipped": self.skipped,
                "review_thanks": self.review_thanks}[key]


__all__ = ["SATISFACTION_PLACEHOLDERS", "Satisfaction", "SatisfactionKey"]
