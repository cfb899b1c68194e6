"""PACK/messages.yaml: the approved texts of messages to patients (SMS and email), part of the
pack and of its approval hash.

`review_request` (optional) is the review request sent after a satisfied last check-in, with the
clinic's review page as `link`.

A text message is PHI-minimal by default: its `sms` text may not name the patient, the
procedure or the instructions. A pack that sets `sms_procedure_names: true` may add an
`sms_detailed` text, sent only to a patient who consented to details in texts. Emails may use
every placeholder of their purpose.
"""

from __future__ import annotations

import string
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from appliance.clinic.schema import ItemId, Text

LongText = Annotated[str, StringConstraints(min_length=1, max_length=4000, strip_whitespace=True)]

PURPOSES = ("payment_link", "aftercare_instructions", "review_request")
PLACEHOLDERS = {
    "payment_link": frozenset({"clinic", "phone", "amount", "link", "when", "name"}),
    "aftercare_instructions": frozenset({"clinic", "phone", "procedure", "instructions", "date", "name"}),
    "review_request": frozenset({"clinic", "phone", "link", "name"}),
}
DETAIL = frozenset({"procedure", "instructions", "name"})  # never in a plain SMS


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageTemplate(_M):
    id: ItemId
    sms: Text | None = None
    sms_detailed: Text | None = None
    email_subject: Text | None = None
    email: LongText | None = None

    @model_validator(mode="after")
    def _complete(self) -> MessageTemplate:
        if self.sms is None and self.email is None:
            raise ValueError("expected an sms text, an email text, or both")
        if (self.email is None) != (self.email_subject is None):
            raise ValueError("email and email_subject go together")
        return self


class ReviewRequest(MessageTemplate):
    """The review request, sent after a satisfied last check-in (appliance/messaging/reviews.py):
    `link` is the clinic's review page, filled in for {link}."""

    link: Annotated[str, StringConstraints(pattern=r"^https://[^\s{}]+$", max_length=500)]


class Messages(_M):
    sms_procedure_names: bool = False  # allow sms_detailed texts (sent only with the patient's consent)
    payment_link: MessageTemplate
    aftercare_instructions: MessageTemplate
    review_request: ReviewRequest | None = None  # optional: no review requests without it

    @model_validator(mode="after")
    def _placeholders(self) -> Messages:
        for purpose in PURPOSES:
            t: MessageTemplate | None = getattr(self, purpose)
            if t is None:
                continue
            for field in ("sms", "sms_detailed", "email_subject", "email"):
                text = getattr(t, field)
                if text is None:
                    continue
                used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
                unknown = used - PLACEHOLDERS[purpose]
                if unknown:
                    raise ValueError(f"{purpose}.{field}: unknown placeholder {{{sorted(unknown)[0]}}}; expected one "
                                     f"of {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS[purpose]))}")
                if field in ("sms", "email_subject") and used & DETAIL:
                    raise ValueError(f"{purpose}.{field}: a text message or a subject line must not name "
                                     f"{{{sorted(used & DETAIL)[0]}}} (use sms_detailed, sent only with consent)")
            if t.sms_detailed is not None and not self.sms_procedure_names:
                raise ValueError(f"{purpose}.sms_detailed: set sms_procedure_names: true to allow texts that name "
                                 "the procedure")
        return self
