"""Call identifiers: the appliance's own key for each call, and what the PBX sent, made safe.

A PBX's Call-ID, From/To user parts and display names are caller-controlled bytes: they may
be invalid UTF-8 (surrogate-escaped in Python), carry control characters or be very long, and
a PBX may reuse a Call-ID. None of that may stop a call's record being written: identifiers
are stored as bounded, valid UTF-8 data, and every call is keyed by `CallRef.key`, an id the
appliance makes itself. Pure: no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

CALL_ID_LIMIT = 256
NUMBER_LIMIT = 64
NAME_LIMIT = 128


def clean_text(value: object, limit: int) -> str:
    """`value` as valid UTF-8 text of at most `limit` characters: undecodable bytes and lone
    surrogates become U+FFFD, control characters become '?'."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        text = str(value)
    out = []
    for ch in text[:limit]:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")
        elif code < 32 or code == 127 or 0x80 <= code < 0xA0:
            out.append("?")
        else:
            out.append(ch)
    return "".join(out)


def clean_call_id(value: object) -> str:
    return clean_text(value, CALL_ID_LIMIT)


def clean_number(value: object) -> str | None:
    """A caller or callee number (SIP user part) as stored; None when there is none."""
    text = clean_text(value, NUMBER_LIMIT).strip()
    return text or None


def clean_name(value: object) -> str | None:
    text = clean_text(value, NAME_LIMIT).strip()
    return text or None


def new_call_key() -> str:
    """The appliance's own id for one call (never the PBX's Call-ID, which may be reused)."""
    return "call-" + uuid.uuid4().hex


@dataclass(frozen=True)
class CallRef:
    """Everything needed to create a call's row, in safe form (also kept in the escalation journal)."""

    key: str
    pbx_call_id: str
    direction: str
    caller_number: str | None = None
    started_at: str | None = None  # ISO 8601 UTC
    patient_id: int | None = None
    line: str | None = None

    @classmethod
    def of(cls, pbx_call_id: object, direction: str, caller_number: object, *, key: str | None = None,
           started_at: str | None = None, patient_id: int | None = None, line: str | None = None) -> CallRef:
        return cls(key=key or new_call_key(), pbx_call_id=clean_call_id(pbx_call_id),
                   direction=direction if direction in ("inbound", "outbound") else "inbound",
                   caller_number=clean_number(caller_number), started_at=started_at, patient_id=patient_id,
                   line=clean_text(line, 16) if line is not None else None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRef:
        return cls.of(data.get("pbx_call_id"), str(data.get("direction") or "inbound"), data.get("caller_number"),
                      key=str(data["key"]), started_at=data.get("started_at"), patient_id=data.get("patient_id"),
                      line=data.get("line"))
