"""Dates and durations in a caller's words, read as a range on the call's clock.

"early March", "three weeks ago", "last Tuesday", "a couple of months back", "back in, I think,
March? Yeah, early March", "next week". Pure: `today` is passed in, never read from a clock.
The reading keeps its uncertainty: an `earliest`..`latest` range and whether the caller hedged.
When a turn holds several readings, the last one wins (callers correct themselves).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from appliance.clinic.lexicon import alternation
from appliance.clinic.parsers import MONTHS, WEEKDAYS, _calendar_date, normalize, numbers
from appliance.clinic.words import words


@lru_cache(maxsize=4)
def _hedge(language: str = "en") -> re.Pattern[str]:
    """A hedge makes a date approximate ("I think", "around"): the lexicon's `understanding.dates.hedges`."""
    return re.compile(r"\b(?:" + alternation(words(language).dates.hedges) + r")\b")

_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_SPREAD = {"day": 0, "week": 3, "month": 10, "year": 60}
_COUNT = r"(\d+|a couple of|a couple|couple of|a few|several|many|some|an|a|[a-z]+(?:[ -][a-z]+)?)"
_AGO = re.compile(_COUNT + r"\s+(day|week|month|year)s?\s+(?:ago|back|before|prior|since)\b")
_BARE_AGO = re.compile(r"\b(days|weeks|months|years)\s+(?:ago|back)\b")
_IN = re.compile(r"\b(?:in|within)\s+(?:about\s+|around\s+)?" + _COUNT + r"\s+(day|week|month|year)s?\b")
_FROM_NOW = re.compile(_COUNT + r"\s+(day|week|month|year)s?\s+from now\b")
_BEEN = re.compile(r"\b(?:been|it's been|it has been)\s+(?:about\s+|around\s+|like\s+|maybe\s+)?" + _COUNT +
                   r"\s+(day|week|month|year)s?\b")
_BARE = re.compile(r"^(?:um |uh |oh |so |well |about |around |like |maybe |i think |probably )*" + _COUNT +
                   r"\s+(day|week|month|year)s?(?: or so| ish)?$")
_MONTH_RX = "|".join(sorted((m for m in MONTHS if m not in ("may", "marks")), key=len, reverse=True)) + "|may|marks"
_MONTH = re.compile(r"\b(?:(early|beginning of|start of|mid|middle of|late|end of)[\s-]+(?:of\s+)?)?(?:the\s+)?"
                    r"(?:(last|this|next)\s+)?(" + _MONTH_RX + r")\b(?:\s+(\d{4}))?")
_SEASONS = {"winter": (12, 2), "spring": (3, 5), "summer": (6, 8), "fall": (9, 11), "autumn": (9, 11)}
_SEASON = re.compile(r"\b(last|this|next|over the|in the|during the)?\s*(winter|spring|summer|fall|autumn)\b")
_WEEKDAY = re.compile(r"\b(?:(last|this past|past|this|next|on|this coming|coming)\s+)?(" + "|".join(WEEKDAYS) + r")\b")


@dataclass(frozen=True)
class DateReading:
    earliest: date
    latest: date
    approximate: bool
    direction: str  # "past" | "future" | "either"

    @property
    def point(self) -> date:
        """The middle of the range: the date the caller most likely means."""
        return self.earliest + (self.latest - self.earliest) // 2

    @property
    def exact(self) -> date | None:
        return self.earliest if self.earliest == self.latest and not self.approximate else None

    def as_slot(self) -> dict[str, object]:
        return {"from": self.earliest.isoformat(), "to": self.latest.isoformat(), "approximate": self.approximate}


def _count(said: str) -> tuple[int, int] | None:
    w = said.strip()
    fuzzy = words().numbers.fuzzy  # (low, high) for "a couple of", "a few"
    if w in fuzzy:
        return fuzzy[w]
    found = numbers(w)
    if found:
        return found[0], found[0]
    tail = w.split()[-1:] or [""]
    if tail[0] in fuzzy:
        return fuzzy[tail[0]]
    found = numbers(tail[0])
    return (found[0], found[0]) if found else None


def _months_shift(d: date, months: int) -> date:
    m = d.month - 1 + months
    y = d.year + m // 12
    m = m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _offset(today: date, n: int, unit: str, sign: int) -> date:
    if unit == "month":
        return _months_shift(today, sign * n)
    if unit == "year":
        return _months_shift(today, sign * 12 * n)
    return today + timedelta(days=sign * n * _UNIT_DAYS[unit])


def _span(today: date, lo: int, hi: int, unit: str, sign: int, hedged: bool) -> tuple[date, date, bool]:
    spread = timedelta(days=_SPREAD[unit] if (hedged or lo != hi or unit != "day") else 0)
    a, b = _offset(today, hi, unit, sign), _offset(today, lo, unit, sign)
    first, last = min(a, b) - spread, max(a, b) + spread
    if sign < 0:
        last = min(last, today)
    else:
        first = max(first, today)
    return first, last, hedged or lo != hi or unit != "day"


def _month_range(month: int, year: int, part: str | None) -> tuple[date, date]:
    end = calendar.monthrange(year, month)[1]
    lo, hi = words().dates.month_parts.get(part or "", (1, end))
    return date(year, month, lo), date(year, month, min(hi, end))


def _candidates(t: str, today: date, past: bool) -> list[tuple[int, date, date, bool, str]]:
    """Every reading in the text: (position, earliest, latest, approximate, direction)."""
    out: list[tuple[int, date, date, bool, str]] = []
    hedged = bool(_hedge().search(t))
    for rx, word, sign in ((r"\bday before yesterday\b", 2, -1), (r"\byesterday\b", 1, -1),
                           (r"\b(today|this morning|earlier today|tonight)\b", 0, 0), (r"\btomorrow\b", 1, 1),
                           (r"\bday after tomorrow\b", 2, 1)):
        for m in re.finditer(rx, t):
            d = today + timedelta(days=sign * word)
            out.append((m.start(), d, d, False, "past" if sign < 0 else "future" if sign > 0 else "either"))
    for pattern, sign in ((_AGO, -1), (_BEEN, -1), (_IN, 1), (_FROM_NOW, 1)):
        for m in pattern.finditer(t):
            c = _count(m.group(1))
            if c is None:
                continue
            a, b, approx = _span(today, c[0], c[1], m.group(2), sign, hedged)
            out.append((m.start(), a, b, approx, "past" if sign < 0 else "future"))
    counted = [(m.start(), m.end()) for m in _AGO.finditer(t)]
    for m in _BARE_AGO.finditer(t):
        if any(a <= m.start() < b for a, b in counted):
            continue  # "six weeks ago" was read with its count
        unit = m.group(1)[:-1]
        a, b, _ = _span(today, 2, 6 if unit != "year" else 10, unit, -1, True)
        out.append((m.start(), a, b, True, "past"))
    for m in re.finditer(r"\b(last|this|next)\s+(week|month|year)\b", t):
        rel, unit = m.group(1), m.group(2)
        sign = {"last": -1, "this": 0, "next": 1}[rel]
        if unit == "week":
            monday = today - timedelta(days=today.weekday()) + timedelta(weeks=sign)
            a, b = monday, monday + timedelta(days=6)
        elif unit == "month":
            first = _months_shift(today.replace(day=1), sign)
            a, b = first, first.replace(day=calendar.monthrange(first.year, first.month)[1])
        else:
            a, b = date(today.year + sign, 1, 1), date(today.year + sign, 12, 31)
        if sign < 0:
            b = min(b, today)
        out.append((m.start(), a, b, True, {-1: "past", 0: "either", 1: "future"}[sign]))
    for m in re.finditer(r"\bearlier this (week|month|year)\b", t):
        unit = m.group(1)
        a = {"week": today - timedelta(days=today.weekday()), "month": today.replace(day=1),
             "year": date(today.year, 1, 1)}[unit]
        out.append((m.start(), a, today, True, "past"))
    for m in _WEEKDAY.finditer(t):
        rel, day = m.group(1) or "", WEEKDAYS[m.group(2)]
        back = (today.weekday() - day) % 7 or 7
        ahead = (day - today.weekday()) % 7 or 7
        future = rel in ("next", "this coming", "coming") or (rel in ("this", "on", "") and not past)
        d = today + timedelta(days=ahead) if future else today - timedelta(days=back)
        out.append((m.start(), d, d, hedged, "future" if future else "past"))
    for m in _MONTH.finditer(t):
        part, rel, name, year = m.group(1), m.group(2), m.group(3), m.group(4)
        if name == "may" and not (part or rel or year or re.search(r"\b(in|since|of|back in|early|late|mid)\s+may\b", t)):
            continue  # "may" is usually the verb
        if name == "marks" and not (part or rel or year or re.search(r"\b(in|since|of|back in)\s+marks\b", t)):
            continue
        month = MONTHS[name]
        if year:
            y = int(year)
        elif rel == "last":
            y = today.year - 1 if month >= today.month else today.year
        elif rel == "next":
            y = today.year + 1 if month <= today.month else today.year
        else:
            y = today.year
            if past and date(y, month, 1) > today:
                y -= 1
            if not past and _month_range(month, y, part)[1] < today:
                y += 1
        a, b = _month_range(month, y, part)
        if past and b > today >= a:
            b = today
        out.append((m.start(), a, b, True, "past" if past else "future"))
    for m in _SEASON.finditer(t):
        rel, (first_month, last_month) = m.group(1) or "", _SEASONS[m.group(2)]
        y = today.year
        start = date(y - (1 if first_month == 12 else 0), first_month, 1)
        if rel == "last" or (past and start > today):
            start = date(start.year - 1, first_month, 1)
        end_year = start.year + (1 if first_month == 12 else 0)
        end = date(end_year, last_month, calendar.monthrange(end_year, last_month)[1])
        if past:
            end = min(end, today)
        out.append((m.start(), start, end, True, "past" if past else "future"))
    for m in re.finditer(r"\b(christmas|the holidays|new year'?s?|thanksgiving|valentine'?s(?: day)?)\b", t):
        key = m.group(1)
        md = {"christmas": ((12, 18), (12, 31)), "the holidays": ((11, 20), (12, 31)),
              "thanksgiving": ((11, 20), (11, 30)), "valentine": ((2, 10), (2, 18))}
        span = next((v for k, v in md.items() if key.startswith(k)), ((12, 28), (1, 7)))
        y = today.year if past and date(today.year, *span[0]) <= today else today.year - 1
        a, b = date(y, *span[0]), date(y + (1 if span[1][0] < span[0][0] else 0), *span[1])
        out.append((m.start(), a, min(b, today) if past else b, True, "past" if past else "future"))
    exact = _calendar_date(t, today, past)
    if exact is not None:
        pos = min((m.start() for m in re.finditer(_MONTH_RX + r"|\d", t)), default=0)
        out = [c for c in out if not (c[1] <= exact <= c[2])]  # "March 3rd" beats "March"
        out.append((pos, exact, exact, hedged, "past" if exact <= today else "future"))
    return out


def read_date(text: str, today: date, *, past: bool = True, loose: bool = False) -> DateReading | None:
    """The date or range the caller means, or None. `past`: how to read a bare "Tuesday" or
    "March". `loose`: a bare duration ("about six weeks") counts as that long ago (the caller
    is answering "when was it?")."""
    t = normalize(text).replace(",", " ").replace("?", " ").replace("  ", " ")
    t = re.sub(r"\s+", " ", t)
    found = _candidates(t, today, past)
    if not found and loose:
        m = _BARE.search(t.strip(" .!"))
        if m:
            c = _count(m.group(1))
            if c is not None:
                a, b, approx = _span(today, c[0], c[1], m.group(2), -1 if past else 1, True)
                found = [(0, a, b, approx, "past" if past else "future")]
    if not found:
        return None
    _, first, last, approx, direction = max(found, key=lambda c: c[0])
    return DateReading(first, last, approx or (first != last and bool(_hedge().search(t))), direction)


def overlaps(reading: DateReading, first: date, last: date) -> bool:
    return reading.earliest <= last and first <= reading.latest
