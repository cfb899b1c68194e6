"""What a patient may be sent, and the text: pure decisions (no clock, no I/O).

Texts come only from the approved pack (`PACK/messages.yaml`). A message goes out on a channel
only if the channel is configured, the patient has an address on it, has not opted out of it,
and has consented to it. A payment link was asked for on the call (the caller booked and heard
that a link would follow): it needs no separate consent, but an opt-out or a withdrawn
consent still stops it. Written aftercare and a review request need the patient's consent to
the channel.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date
from typing import Any

PURPOSES = ("payment-link", "aftercare-instructions", "review-request")
TRANSACTIONAL = frozenset({"payment-link"})
WRITTEN_WITHIN_DAYS = 1  # immediate aftercare instructions are sent for a treatment today or yesterday
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
START_WORDS = frozenset({"start", "unstop"})
SMS_MAX_BYTES = 1300  # one SIP MESSAGE over UDP (RFC 3428); gateways split longer texts themselves


@dataclass(frozen=True)
class Rights:
    """What the record says about one patient and one channel."""

    consent: bool | None  # the latest consent to the channel: None when never asked
    opted_out: bool
    details: bool = False  # consented to texts that name the procedure


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    template: str  # provenance: PACK_REF#template-id
    carries: frozenset[str] = frozenset()  # the placeholders the text used (e.g. "instructions")


def may_send(purpose: str, rights: Rights) -> tuple[bool, str]:
    """(allowed, reason when not)."""
    if rights.opted_out:
        return False, "opted-out"
    if rights.consent is False:
        return False, "no-consent"
    if rights.consent is None and purpose not in TRANSACTIONAL:
        return False, "no-consent"
    return True, ""


def written_due(treated_on: date, today: date) -> bool:
    """Immediate instructions are for the first day: an import of older treatments sends none."""
    return 0 <= (today - treated_on).days <= WRITTEN_WITHIN_DAYS


def reply_keyword(text: str) -> str | None:
    """'stop' / 'start' for a patient's SMS reply that is one of the carriers' keywords, else None."""
    word = "".join(ch for ch in (text or "").strip().lower() if ch.isalpha())
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


class _Fill(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


def render(pack: Any, purpose: str, channel: str, values: dict[str, Any], *, details: bool = False) -> Rendered | None:
    """The pack's text for `purpose` on `channel`, filled; None when the pack has none. `details`:
    the patient consented to texts that name the procedure (used only if the pack allows them)."""
    messages = getattr(pack, "messages", None)
    if messages is None or purpose not in PURPOSES:
        return None
    t = getattr(messages, purpose.replace("-", "_"))
    if t is None:  # an optional text the pack does not have (the review request)
        return None
    fill = _Fill({"clinic": pack.clinic.name, "phone": pack.clinic.phone or "",
                  **{k: "" if v is None else str(v) for k, v in values.items()}})
    if channel == "sms":
        text = t.sms_detailed if (details and messages.sms_procedure_names and t.sms_detailed) else t.sms
        if text is None:
            return None
        body = " ".join(text.format_map(fill).split())
        while len(body.encode("utf-8")) > SMS_MAX_BYTES:
            body = body[:-1]
        return Rendered("", body, pack.prov(t.id), _used(text))
    if channel == "email" and t.email is not None and t.email_subject is not None:
        return Rendered(" ".join(t.email_subject.format_map(fill).split()), t.email.format_map(fill).strip() + "\n",
                        pack.prov(t.id), _used(t.email))
    return None


def _used(text: str) -> frozenset[str]:
    return frozenset(f for _, f, _, _ in string.Formatter().parse(text) if f)


def money(amount_cents: int, currency: str) -> str:
    symbol = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}.get(currency, "")
    major = amount_cents / 100
    text = f"{major:,.0f}" if amount_cents % 100 == 0 else f"{major:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def instructions_text(lines: list[str]) -> str:
    return "\n".join(f"- {x}" for x in lines)
