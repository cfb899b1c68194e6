"""How approved text is read aloud: the words stay the pack's, only their spoken form changes.

Piper reads "911" as "nine hundred eleven"; an emergency instruction must say "nine one one".
Phone numbers and extensions are read digit by digit. The transcript and the provenance keep
the approved text exactly; only the audio uses the spoken form.
"""

from __future__ import annotations

import re

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_EMERGENCY = re.compile(r"\b(911|999|112)\b")
_PHONE = re.compile(r"(?<![\d(])(?:\(?\d{3}\)?[\s.-]?)?\d{3}[\s.-]\d{4}\b")


def _digits(text: str) -> str:
    return " ".join(_DIGITS[int(c)] for c in text if c.isdigit())


def spoken_form(text: str) -> str:
    text = _EMERGENCY.sub(lambda m: _digits(m.group(1)), text)
    return _PHONE.sub(lambda m: ", ".join(_digits(part) for part in re.split(r"[\s.()-]+", m.group()) if part), text)
