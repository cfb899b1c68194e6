"""Deterministic parsers for caller turns: yes/no, numbers (digits or words), dates, phone
numbers, names, money. Pure functions; `today` is always passed in. They return None when
they cannot settle the answer, so the caller can re-ask or consult the language model.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from appliance.clinic.words import phrase_rx, words

Answer = Literal["yes", "no", "unsure", "declined"]



@dataclass(frozen=True)
class _NumberWords:
    units: dict[str, int]
    tens: dict[str, int]
    ordinals: dict[str, int]
    scales: dict[str, int]


@lru_cache(maxsize=4)
def _number_words(language: str = "en") -> _NumberWords:
    """The lexicon's number words (`understanding.numbers`)."""
    n = words(language).numbers
    return _NumberWords(units={w: i for i, w in enumerate(n.units)}, tens={w: 10 * (i + 2) for i, w in enumerate(n.tens)},
                        ordinals=dict(n.ordinals), scales=dict(n.scales))

_FUZZY = {"a": 1, "an": 1, "one": 1, "a couple of": 2, "a couple": 2, "couple of": 2, "a few": 3, "few": 3,
          "several": 3, "half a": 0}
MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
MONTHS["sept"] = 9
MONTHS["marks"] = 3  # Whisper's spelling of "March" on telephone audio ("It's marks third 1980")
WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}


def normalize(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).strip()


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", normalize(text))


def _word_number(words: list[str], i: int) -> tuple[int, int] | None:
    """A number written in words starting at words[i]: (value, words consumed)."""
    nw = _number_words()
    units, tens, ordinals, scales = nw.units, nw.tens, nw.ordinals, nw.scales
    total, current, j, seen = 0, 0, i, False
    while j < len(words):
        w = words[j].replace("-", " ")
        parts = w.split()
        if len(parts) == 2 and parts[0] in tens and parts[1] in units:  # "twenty-five"
            current += tens[parts[0]] + units[parts[1]]
        elif w in units:
            current += units[w]
        elif w in tens:
            current += tens[w]
        elif w in ordinals and seen is False or (w in ordinals and current % 10 == 0 and current >= 20):
            current += ordinals[w]
            seen = True
            j += 1
            break
        elif w in scales and (seen or current):
            current = max(current, 1) * scales[w]
            if scales[w] >= 1000:
                total, current = total + current, 0
        elif w == "and" and seen and j + 1 < len(words) and (words[j + 1] in units or words[j + 1] in tens):
            pass
        else:
            break
        seen = True
        j += 1
    return (total + current, j - i) if seen else None


def numbers(text: str) -> list[int]:
    """Every number in the text, in order: digits ("25", "$1,200") or words ("twenty five")."""
    words = re.findall(r"[a-z]+(?:-[a-z]+)?|\d[\d,]*(?:\.\d+)?", normalize(text))
    out: list[int] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w[0].isdigit():
            out.append(int(float(w.replace(",", ""))))
            i += 1
            continue
        hit = _word_number(words, i)
        if hit:
            out.append(hit[0])
            i += hit[1]
        else:
            i += 1
    return out


def _rx(key: str, anchored: bool = False) -> re.Pattern[str]:
    return phrase_rx(tuple(getattr(words(), key)), anchored)


def yes_no(text: str) -> Answer | None:
    """yes / no / unsure / declined, or None when the turn is not an answer at all. The words are
    the lexicon's (`understanding` section). A telephone mishearing of "no" ("Now.") is None."""
    t = normalize(text).strip(" .!?,")
    if _rx("declined").search(t):
        return "declined"
    if _rx("unsure").search(t):
        return "unsure"
    if _rx("yes_start", anchored=True).search(t):
        return "yes"
    if _rx("no_start", anchored=True).search(t):
        return "no"
    no_hit, yes_hit = _rx("no_any").search(t), _rx("yes_any").search(t)
    if no_hit and not yes_hit:
        return "no"
    if yes_hit and not no_hit:
        return "yes"
    return None


def refused(text: str) -> bool:
    return bool(_rx("declined").search(normalize(text)))


def _months_back(today: date, months: int) -> date:
    m = today.month - 1 - months
    y = today.year + m // 12
    m = m % 12 + 1
    return date(y, m, min(today.day, calendar.monthrange(y, m)[1]))


def _amount(words: str) -> int | None:
    w = words.strip()
    if w in _FUZZY:
        return _FUZZY[w] or None
    found = numbers(w)
    return found[0] if found else None


_AGO = re.compile(r"\b(\d+|[a-z]+(?:[ -][a-z]+)?|a couple of|a few)\s+(day|week|month|year)s?\s+(ago|back|before)\b")
_NUMDATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b|\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")


def parse_date(text: str, today: date, *, past: bool = True) -> date | Literal["never"] | None:
    """A date in the caller's words: "three weeks ago", "last Tuesday", "March 3rd", "3/14"."""
    t = normalize(text)
    if re.search(r"\b(never|first time|haven't had|have not had|not before|no i haven't)\b", t):
        return "never"
    if re.search(r"\bday before yesterday\b", t):
        return today - timedelta(days=2)
    if re.search(r"\byesterday\b", t):
        return today - timedelta(days=1)
    if re.search(r"\b(today|this morning|earlier today)\b", t):
        return today
    m = _AGO.search(t)
    if m:
        n = _amount(m.group(1))
        if n is None:
            words = m.group(1).split()
            n = _amount(words[-1]) if words else None
        if n is not None:
            unit = m.group(2)
            if unit == "day":
                return today - timedelta(days=n)
            if unit == "week":
                return today - timedelta(weeks=n)
            return _months_back(today, n * (12 if unit == "year" else 1))
    if re.search(r"\blast week\b", t):
        return today - timedelta(weeks=1)
    if re.search(r"\blast month\b", t):
        return _months_back(today, 1)
    if re.search(r"\blast year\b", t):
        return _months_back(today, 12)
    m = re.search(r"\b(?:last|on|this past|past)\s+(" + "|".join(WEEKDAYS) + r")\b", t) or \
        re.search(r"\b(" + "|".join(WEEKDAYS) + r")\b", t)
    if m:
        back = (today.weekday() - WEEKDAYS[m.group(1)]) % 7 or 7
        return today - timedelta(days=back) if past else today + timedelta(days=(7 - back) or 7)
    return _calendar_date(t, today, past)


def _calendar_date(t: str, today: date, past: bool) -> date | None:
    m = _NUMDATE.search(t)
    if m:
        if m.group(1):
            y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        else:
            mo, d = int(m.group(4)), int(m.group(5))
            given = int(m.group(6)) if m.group(6) else None
            return _fit(given + 2000 if given is not None and given < 100 else given, mo, d, today, past)
        return _fit(y, mo, d, today, past)
    month_rx = "|".join(sorted(MONTHS, key=len, reverse=True))
    # "March 3rd, 1980" or "the 3rd of March 1980": the first reading that names a day wins.
    for m in (re.search(rf"\b({month_rx})\.?\s+(?:the\s+)?([a-z0-9 ,-]+)", t),
              re.search(rf"\b(?:the\s+)?([a-z0-9-]+(?: [a-z-]+)?)\s+of\s+({month_rx})\b([a-z0-9 ,-]*)", t)):
        if not m:
            continue
        if m.group(1) in MONTHS:
            month, rest, after = MONTHS[m.group(1)], m.group(2), ""
        else:
            month, rest, after = MONTHS[m.group(2)], m.group(1), m.group(3)
        rest = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", rest)
        found = numbers(rest)
        if not found or not 1 <= found[0] <= 31:
            continue
        year = _spoken_year(f"{rest} {after}") or next(
            (n for n in found[1:] + numbers(after) if 1900 < n < 2200), None)
        return _fit(year, month, found[0], today, past)
    return None


def _spoken_year(text: str) -> int | None:
    """A year said in two halves, as people say birth years: "nineteen eighty-five" -> 1985."""
    m = re.search(r"\b(nineteen|twenty)[\s-]+([a-z]+(?:[\s-][a-z]+)?)", text)
    if not m:
        return None
    tail = numbers(m.group(2).replace("-", " "))
    if not tail or not 10 <= tail[0] <= 99:
        return None
    return (1900 if m.group(1) == "nineteen" else 2000) + tail[0]


def _fit(year: int | None, month: int, day: int, today: date, past: bool) -> date | None:
    try:
        d = date(year or today.year, month, day)
    except ValueError:
        return None
    if year is None and past and d > today:
        d = d.replace(year=d.year - 1)
    if year is None and not past and d < today:
        d = d.replace(year=d.year + 1)
    return d


_DIGIT_WORDS = {"oh": "0", "o": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9"}


def phone_number(text: str) -> str | None:
    """Digits of a phone number said as digits or words ("five five five, oh one two three")."""
    out: list[str] = []
    repeat = 1
    for w in re.findall(r"[a-z]+|\d+|\+", normalize(text)):
        if w in ("double", "triple"):
            repeat = 2 if w == "double" else 3
            continue
        if w.isdigit():
            out.append(w * repeat if len(w) == 1 else w)
        elif w in _DIGIT_WORDS:
            out.append(_DIGIT_WORDS[w] * repeat)
        repeat = 1
    digits = "".join(out)
    return digits if 7 <= len(digits) <= 15 else None


_NAME_LEAD = re.compile(r"\b(?:my name is|my name's|name is|this is|it's|it is|i'm|i am|call me)\s+(.+)$", re.I)
_NOT_NAME = {"yes", "no", "yeah", "nope", "sure", "ok", "okay", "the", "a", "calling", "here", "not", "just", "fine",
             "well", "um", "uh", "hi", "hello", "thanks", "thank", "you", "sorry", "good", "rather", "prefer", "don't",
             "pregnant", "new", "returning", "about", "for", "booking", "book", "to", "i", "my", "name", "is"}


def person_name(text: str) -> str | None:
    """A name: "my name is Dana Lee", "it's Dana", or just "Dana Lee". None when it doesn't look like one."""
    raw = text.strip().strip(".!?")
    m = _NAME_LEAD.search(raw)
    cand = m.group(1) if m else raw
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'\-]*", cand)][:4]
    while words and words[-1].lower() in ("thanks", "thank", "you", "please"):
        words.pop()
    if not words or len(words) > 3 or any(w.lower() in _NOT_NAME for w in words):
        return None
    return " ".join(w[:1].upper() + w[1:] for w in words)


def money_range(text: str) -> tuple[int, int] | None:
    """A budget: "$500", "five hundred dollars", "between 300 and 500", "under a thousand"."""
    t = normalize(text).replace("a thousand", "one thousand").replace("a hundred", "one hundred")
    found = [n for n in numbers(t) if n >= 20]
    if not found:
        return None
    if len(found) >= 2:
        return min(found[:2]), max(found[:2])
    n = found[0]
    if re.search(r"\b(under|less than|below|up to|no more than|max|maximum)\b", t):
        return 0, n
    if re.search(r"\b(over|more than|above|at least)\b", t):
        return n, n * 2
    return n, n


def contains_phrase(words: list[str], phrase: str) -> bool:
    """Whether the phrase's words occur contiguously in `words` (both tokenised the same way)."""
    p = tokens(phrase)
    n = len(p)
    return n > 0 and any(words[i:i + n] == p for i in range(len(words) - n + 1))
