"""PHI redaction for transcripts that leave the encrypted store (logs, analytics, metrics).

Pure text rules, no I/O: e-mail addresses, street addresses and ZIP codes, dates (dates of
birth and every other date tied to a person), phone numbers (digits or spoken digit words),
ID numbers, and names (the names the call collected, plus self-introductions). Redaction
errs on the side of removing too much: a redacted transcript is for counting and reading
patterns, never for identifying anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORD_WORDS = (r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
              r"thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
              r"twenty[- ](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirtieth|thirty[- ]first)")
_DAY = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?|{_ORD_WORDS})"
_TENS = r"(?:ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"  # noqa: E501
_ONES = r"(?:one|two|three|four|five|six|seven|eight|nine)"
_YEAR_WORDS = rf"(?:(?:nineteen|twenty|two thousand(?: and)?)(?:[- ]{_TENS}(?:[- ]{_ONES})?|[- ](?:oh[- ])?{_ONES})?)"
_YEAR = rf"(?:\d{{4}}|'\d{{2}}|{_YEAR_WORDS})"
_DIGIT_WORD = r"(?:zero|oh|o|one|two|three|four|five|six|seven|eight|nine|double|triple)"
_STREET = (r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|"
           r"ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|row|alley|plaza|crescent)")
_UNIT = r"(?:,?\s*(?:apt|apartment|suite|ste|unit|floor|fl|#)\.?\s*#?\s*[\w-]+)?"
_NUMBER = r"(?:\d{1,6}[a-z]?|" + _ONES + r"|" + _TENS + r")"

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("[EMAIL]", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.I)),
    ("[EMAIL]", re.compile(r"\b[\w.+-]+(?:\s+(?:dot|underscore)\s+[\w-]+)*\s+at\s+[\w-]+(?:\s+dot\s+[\w-]+)+\b", re.I)),
    ("[ADDRESS]", re.compile(r"\bp\.?\s*o\.?\s*box\s+\d+\b", re.I)),
    ("[ADDRESS]", re.compile(rf"\b{_NUMBER}(?:[\s-]+{_ONES})?\s+(?:[a-z0-9'.-]+\s+){{0,4}}{_STREET}\b\.?{_UNIT}"
                             rf"(?:,\s*[a-z][a-z .'-]*?,?\s+(?:[A-Z]{{2}}|[a-z]+)\s+\d{{5}}(?:-\d{{4}})?)?", re.I)),
    ("[DATE]", re.compile(rf"\b{_MONTHS}\.?\s+(?:the\s+)?{_DAY}(?:,?\s+(?:of\s+)?{_YEAR})?\b", re.I)),
    ("[DATE]", re.compile(rf"\b(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTHS}\b\.?(?:,?\s+{_YEAR})?\b", re.I)),
    ("[DATE]", re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b")),
    ("[DATE]", re.compile(rf"\b{_MONTHS}\.?\s+{_YEAR}\b", re.I)),
    ("[ID]", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("[PHONE]", re.compile(r"(?:\+?\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]*\d{3}[\s.-]*\d{4}\b")),
    ("[PHONE]", re.compile(r"\b\d{3}[\s.-]\d{4}\b")),
    ("[PHONE]", re.compile(r"\b(?:\d[\s.,-]*){7,}\b")),
    ("[PHONE]", re.compile(rf"\b{_DIGIT_WORD}(?:[\s,.-]+{_DIGIT_WORD}){{6,}}\b", re.I)),
    ("[ADDRESS]", re.compile(r"\b\d{5}(?:-\d{4})?\b")),
    ("[DATE]", re.compile(r"\b(?:19|20)\d{2}\b")),
]

_INTRO = re.compile(
    r"\b(?i:my name is|my name's|name is|this is|i am|i'm|it's|speaking with|calling for|patient is|"
    r"the name is|last name is|first name is)\s+((?:[A-Z][a-z'’-]+|[A-Z]\.)(?:\s+(?:[A-Z][a-z'’-]+|[A-Z]\.)){0,2})")
_INTRO_ANY_CASE = re.compile(
    r"\b(?:my name is|my name's|the name is|last name is|first name is)\s+([a-z'’-]+(?:\s+[a-z'’-]+)?)", re.I)
_NOT_NAMES = {
    "a", "an", "the", "and", "is", "calling", "about", "here", "just", "so", "not", "sure", "really", "very",
    "worried", "concerned", "wondering", "looking", "trying", "having", "going", "in", "on", "at", "from", "for",
    "to", "with", "okay", "ok", "yes", "no", "um", "uh", "well", "still", "also", "actually", "booked", "scheduled",
}


def _name_terms(names: Iterable[str]) -> list[str]:
    terms: set[str] = set()
    for name in names:
        name = (name or "").strip()
        if not name:
            continue
        terms.add(name)
        terms.update(p for p in re.split(r"[\s,]+", name) if len(p.strip(".")) >= 2)
    return sorted(terms, key=len, reverse=True)


def redact(text: str, names: Iterable[str] = ()) -> str:
    """A copy of `text` with every recognised PHI element replaced by a [TAG]."""
    out = text
    for tag, pattern in _RULES:
        out = pattern.sub(tag, out)
    for term in _name_terms(names):
        out = re.sub(rf"(?<![\w]){re.escape(term)}(?![\w])", "[NAME]", out, flags=re.I)

    def intro(m: re.Match[str]) -> str:
        words = m.group(1).split()
        kept = []
        for w in words:
            if w.lower().strip("'’") in _NOT_NAMES:
                break
            kept.append(w)
        if not kept:
            return m.group(0)
        head = m.group(0)[: m.start(1) - m.start(0)]
        rest = " ".join(words[len(kept):])
        return head + "[NAME]" + (" " + rest if rest else "")

    out = _INTRO.sub(intro, out)
    out = _INTRO_ANY_CASE.sub(intro, out)
    return out


def redact_transcript(turns: Iterable[tuple[str, str]], names: Iterable[str] = ()) -> str:
    """`(speaker, text)` turns as redacted lines: `caller: ...` / `agent: ...`."""
    names = list(names)
    return "\n".join(f"{speaker}: {redact(text, names)}" for speaker, text in turns)
