"""Read one caller turn for every slot and intent it holds, whatever was asked.

Pure: the pack's vocabularies, the lexicon's `understanding` section, the call's `today`. The
engine applies the reading (screen outcomes, booking details); this module decides nothing.
Screen answers read here are deterministic; the language model never fills a safety slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from appliance.clinic.aftercare_cue import heard_as_meant
from appliance.clinic.dates import DateReading, overlaps, read_date
from appliance.clinic.facts import facts_asked
from appliance.clinic.lexicon import alternation
from appliance.clinic.nlu import areas_in, intent_of, treatments_in
from appliance.clinic.pack import Pack
from appliance.clinic.parsers import money_range, normalize, person_name, phone_number, yes_no
from appliance.clinic.redflags import mentioned
from appliance.clinic.schema import Treatment
from appliance.clinic.targets import symptom_text
from appliance.clinic.words import find, words

SAFETY_SLOTS = ("pregnant_or_breastfeeding", "anticoagulants", "autoimmune", "dental_work")
_DENTAL_WINDOW_DAYS = 14


@lru_cache(maxsize=4)
def _clause_breaks(language: str = "en") -> re.Pattern[str]:
    c = words(language).context
    return re.compile(r"[.;!?]" + (rf"|,\s*(?:{alternation(c.comma_breaks)})\b" if c.comma_breaks else "")
                      + (rf"|\b(?:{alternation(c.clause_breaks)})\b" if c.clause_breaks else ""))


@dataclass
class Reading:
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # slot -> detail (dates, what was said about it)
    facts: tuple[str, ...] = ()  # the pack's clinic facts the turn asks for (facts.yaml ids)
    rest: str | None = None  # with facts: the rest of the turn for the current step ("" when nothing else)


@dataclass(frozen=True)
class TurnContext:
    today: date
    state: str = "greeting"
    pending: str | None = None  # the slot of the question just asked
    family: str | None = None  # the family of the treatment already chosen
    known: bool = False


def read_turn(pack: Pack, text: str, ctx: TurnContext) -> Reading:
    t = normalize(text)
    symptoms = _symptoms(symptom_text(pack, t))  # "laser for redness" is a request, not a symptom
    asked = None if symptoms else facts_asked(pack, text, ctx.state)  # a symptom comes first: the concern path
    if asked is None:
        r = Reading(intent=_intent(pack, t, ctx))
    else:  # the intent is the rest's: "where do I park, and how much is Botox?" is a price question too
        r = Reading(intent=_intent(pack, normalize(asked.rest), ctx) if asked.rest else "fact",
                    facts=asked.ids, rest=asked.rest)
    found = treatments_answering(pack, text) if ctx.pending == "treatment" else treatments_in(pack, text)
    if found:
        r.slots["treatment"] = found[0].id
    areas = [a.id for a in areas_in(pack, text)]
    if areas:
        r.slots["areas"] = areas
    _prior(pack, t, ctx, found, r)
    _screen(t, ctx, r)
    _contact(text, t, ctx, r)
    _preference(t, ctx, r)
    if symptoms:
        r.slots["symptoms"] = symptoms
    return r


# ---- intents ----



def _intent(pack: Pack, t: str, ctx: TurnContext) -> str | None:
    w = words()
    bare = re.findall(r"[a-z']+", t)
    if bare and all(x in w.backchannels for x in bare):
        return None  # "hello?", "uh yeah hi": nothing yet
    for name in ("wrong_number", "stop_calling"):
        if find(getattr(w.intents, name), t):
            return name
    visit = _existing_appointment(t)
    if visit is not None:
        return visit
    if find(w.intents.message, t):
        return "message"
    if find(w.intents.complaint, t):
        return "complaint"
    if find(w.intents.price, t) and not find(w.context.not_price, t):
        return "price"
    intent = intent_of(t)
    if intent == "returning" and find(w.context.new_caller, t):
        return "new_patient"
    if intent == "question" and ctx.pending and not find(w.question_starts, t, anchored=True) and "?" in t \
            and len(bare) <= 8:
        return None  # uptalk on an answer: "like a year ago?"
    return intent




def _existing_appointment(t: str) -> str | None:
    """"cancel my appointment", "can I move my booking", "when is my appointment": an existing
    appointment, unless the turn speaks of one that has already happened ("since my appointment
    yesterday ..." is about a treatment)."""
    w = words()
    for name in ("cancel", "reschedule", "confirm"):
        if find(getattr(w.intents, name), t):
            return name
    if find(w.intents.appointment, t) and not find(w.context.past_visit, t):
        return "appointment"
    return None


# ---- earlier treatments and their dates ----

def _prior(pack: Pack, t: str, ctx: TurnContext, found: list[Treatment], r: Reading) -> None:
    w = words()
    loose = ctx.pending == "last_neuromodulator"
    if find(w.prior_no, t):
        r.slots["prior_treatments"] = "no"
        if ctx.pending == "last_neuromodulator":
            r.slots["last_neuromodulator"] = "never"
        return
    for clause in [c for c in _clause_breaks().split(t) if c and c.strip()] or [t]:
        when = read_date(clause, ctx.today, past=True, loose=loose)
        named = treatments_in(pack, clause)
        answered = ctx.pending == "prior_treatments" and when is not None and yes_no(clause) == "yes"
        if not _had_treatment(clause, named, when) and not (loose and when) and not answered:
            continue
        r.slots["prior_treatments"] = "yes"
        if when is None or when.direction == "future" or when.earliest > ctx.today:
            continue
        neuro = [x for x in named if x.family == "neuromodulator"]
        others = [x for x in named if x.family != "neuromodulator"]
        family = ctx.family or next((x.family for x in found), None)
        if neuro or loose or (not others and family == "neuromodulator"):
            r.slots["last_neuromodulator"] = "date"
            r.details["last_neuromodulator"] = when.as_slot()
            r.details["last_neuromodulator_reading"] = when


def _had_treatment(clause: str, named: list[Treatment], when: DateReading | None) -> bool:
    w = words()
    m = find(w.prior_yes, clause)
    if m is None or find(w.context.dental, clause) or find(w.context.not_aesthetic, clause):
        return False
    verb_object = m.group(0).split()[-1] in ("it", "them", "some", "last", "before", "done")
    object_follows = bool(find(w.context.prior_objects, clause[m.end():].lstrip(), anchored=True)) or bool(named)
    if not (verb_object or object_follows):
        return False
    return when is not None or bool(find(w.prior_when, clause)) or bool(named)


# ---- screen answers said in passing ----

def _screen(t: str, ctx: TurnContext, r: Reading) -> None:
    w = words()
    for slot in ("pregnant_or_breastfeeding", "anticoagulants", "autoimmune"):
        answer = _mention(getattr(w.screen, slot), t)
        if answer:
            r.slots[slot] = answer
    _dental(t, ctx, r)


def _mention(cues: list[str], t: str, context: bool = True) -> str | None:
    results = [mentioned(t, c) for c in cues
               if (context or c not in words().context.dental_needs_context) and find([c], t)]
    if any(x is True for x in results):
        return "yes"
    if any(x is False for x in results):
        return "no"
    return None


def _dental(t: str, ctx: TurnContext, r: Reading) -> None:
    cues = words().screen.dental_work
    context = ctx.pending == "dental_work" or bool(find(words().context.dental, t))
    answer = _mention(cues, t, context)
    if answer is None:
        return
    what = [c for c in cues if find([c], t) and c not in ("dental", "dentist", "dentist's")
            and (context or c not in words().context.dental_needs_context)]
    when = read_date(t, ctx.today, past=False)
    detail: dict[str, Any] = {"what": max(what, key=len) if what else "dental work"}
    if when is not None:
        detail["when"] = when.as_slot()
        window = (ctx.today - timedelta(days=_DENTAL_WINDOW_DAYS), ctx.today + timedelta(days=_DENTAL_WINDOW_DAYS))
        if answer == "yes" and not overlaps(when, *window):
            answer = "no"  # said, but clearly outside the two weeks either side
            detail["outside_window"] = True
    r.slots["dental_work"] = answer
    r.details["dental_work"] = detail


# ---- contact, budget, preferences, symptoms ----

def _contact(text: str, t: str, ctx: TurnContext, r: Reading) -> None:
    w = words()
    lead = find(w.name_lead, t)
    if lead and (lead.group(0) != "this is" or re.match(r"^(?:(?:hi|hello|hey|yes|yeah)\W+)*this is\b", t)):
        raw = text[lead.start():] if len(text) == len(t) else text
        raw = re.split(r"[,.;!?]|\s(?:and|but|i|i'm|i'd|from)\s", raw, maxsplit=1, flags=re.I)[0]
        name = person_name(raw)
        if name:
            r.slots["name"] = name
    lead = find(w.phone_lead, t)
    number = phone_number(t[lead.end():]) if lead else None
    if number is None:
        digits = re.sub(r"\D", "", " ".join(re.findall(r"\d[\d\s().-]{8,}\d", t)))
        number = digits if 10 <= len(digits) <= 15 else None
    if number:
        r.slots["phone"] = number
    if ctx.pending == "budget" or find(w.budget, t):
        rng = money_range(t)
        if rng and not re.search(r"\b(paid|spent|charged)\b", t):
            r.slots["budget"] = {"low": rng[0], "high": rng[1]}


def _preference(t: str, ctx: TurnContext, r: Reading) -> None:
    w = words()
    day = re.search(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend|tomorrow|next week)s?\b", t)
    part = next((p for p, cues in w.parts_of_day.items() if find(cues, t)), None)
    at = re.search(r"\b(?:at|after|around|before)\s+(\d{1,2})(?::(\d\d))?\s*(am|pm|a\.m\.|p\.m\.)?", t)
    if not (day or part or at):
        return
    booking_state = ctx.state in ("offer_slot", "offer_booking", "ask_name", "ask_phone", "confirm_phone")
    if not (booking_state or find(w.preference_cues, t)) or find(w.past_cues, t):
        return
    pref: dict[str, str] = {}
    if day:
        pref["day"] = day.group(1)
    if at:
        hour = int(at.group(1)) % 12 + (12 if (at.group(3) or "").startswith("p") or int(at.group(1)) < 8 else 0)
        pref["time"] = f"{hour:02d}:{at.group(2) or '00'}"
        part = part or ("morning" if hour < 12 else "afternoon" if hour < 17 else "evening")
    if part:
        pref["part"] = part
    r.slots["preferred"] = pref


def _symptoms(t: str) -> list[str]:
    out: list[str] = []
    for s in words().symptoms:
        if find([s], t) and mentioned(t, s) is True and s not in out:
            out.append(s)
    return out


def safety_answer(text: str, reading: Reading, slot: str) -> str | None:
    """A deterministic answer to a safety question: any "yes" evidence wins, then unsure or declined,
    then "no" only when nothing says otherwise. None when the turn does not answer it."""
    direct = yes_no(text)
    mention = reading.slots.get(slot)
    if direct == "declined":
        return "declined"
    if "yes" in (direct, mention):
        return "yes"
    if direct == "unsure":
        return "unsure"
    if mention == "no" or direct == "no":
        return "no"
    return None


def treatments_answering(pack: Pack, text: str) -> list[Treatment]:
    """The treatments an answer to "which treatment?" names. A short answer is also read through
    the lexicon's telephone mishearings of treatment names ("Box, please." for Botox: the
    `heard_for_treatment` table, then the safety confusions); a longer turn only by its words."""
    found = treatments_in(pack, text)
    w, said = words(), normalize(text)
    if found or len(said.split()) > w.short_answer_words:
        return found
    t = " " + " ".join(re.findall(r"[a-z0-9']+", said)) + " "
    for heard, meant in sorted(w.heard_for_treatment.items(), key=lambda kv: -len(kv[0])):
        t = t.replace(" " + heard.lower() + " ", " " + meant.lower() + " ")
    return treatments_in(pack, heard_as_meant(t))


def heard_for_no(text: str) -> bool:
    """A short turn that is a telephone mishearing of "no" ("Now.")."""
    t = normalize(text).strip(" .!?,")
    return bool(t) and t in words().heard_for_no
