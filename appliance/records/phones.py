"""One phone-number form for comparing numbers across the record store and the scheduler.

Opt-outs are stored, and numbers compared, in this form: digits only, E.164 without the "+"
(country code first). A number written for people ("+1 (415) 555-0100", "415.555.0100",
"001 415 555 0100") and the same number from a SIP header ("14155550100") compare equal.
Numbers are dialled as staff wrote them; this form is for matching only.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_COUNTRY = "1"  # national numbers without a country code (the clinics are in the US/Canada)
_NATIONAL_LENGTH = {"1": 10}


def normalize_phone(raw: str | None, country: str = DEFAULT_COUNTRY) -> str:
    """Digits only, E.164-ish: '+1 (415) 555-0100' -> '14155550100'; '' if there are no digits.

    An international prefix ("+", "00", or "011" in North America) is dropped; a national
    number of the country's length (10 digits for +1) gains the country code; a leading trunk
    "1" before a 10-digit North American number is the country code already.
    """
    text = (raw or "").strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return ""
    if text.startswith("+"):
        return digits
    if digits.startswith("00"):
        return digits[2:]
    if country == "1" and digits.startswith("011") and len(digits) > 11:
        return digits[3:]
    if len(digits) == _NATIONAL_LENGTH.get(country, -1):
        return country + digits
    return digits


def same_phone(a: str | None, b: str | None, country: str = DEFAULT_COUNTRY) -> bool:
    na, nb = normalize_phone(a, country), normalize_phone(b, country)
    return bool(na) and na == nb


def opted_out(conn: Any, phone: str | None, channel: str) -> bool:
    """Whether `phone` opted out of `channel` ('call', 'sms') or of everything; numbers stored in
    any written form (before they were normalised) match too. Runs in the caller's transaction."""
    number = normalize_phone(phone)
    if not number:
        return False
    rows = conn.execute("SELECT phone FROM opt_outs WHERE channel IN (?, 'all')", (channel,)).fetchall()
    return any(normalize_phone(r[0]) == number for r in rows)
