"""The front desk's outbound contacts, decided (pure: no clock, no I/O; `now` is passed in).

  reminder   `before_hours` before a booked appointment (the pack's `reminders.before_hours`,
             e.g. [48, 2]); a time already past when it is planned is skipped; moved to the next
             allowed call time (clinic hours, quiet hours) and dropped when that is too close to
             the appointment (`reminder_cutoff`).
  concern_follow_up  `after_hours` after staff resolve a concern's escalation (the pack's
             outbound.yaml concern_follow_up), at the next allowed call time (`plan_follow_up`).
  callback   a caller turned away (486 at capacity) or who hung up before saying anything is
             called back `callback_delay` later, at the next allowed call time (for
             `callback_window` from then); never a withheld or
             anonymous number, an extension (fewer than `min_digits` digits) or a number that
             opted out; at most one pending per number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from appliance.records.phones import normalize_phone
from appliance.scheduler.policy import CallPolicy

WITHHELD = ("anonymous", "restricted", "private", "withheld", "unknown", "unavailable")


@dataclass(frozen=True)
class DeskRules:
    before_hours: tuple[int, ...] = (48, 2)
    reminder_cutoff: timedelta = timedelta(minutes=30)  # no reminder call starts closer to the appointment
    merge: timedelta = timedelta(hours=3)  # two reminders this close: only the later one is kept
    callback_delay: timedelta = timedelta(minutes=2)
    callback_window: timedelta = timedelta(hours=24)  # from its first call time: not placed by then, dropped
    min_digits: int = 7


@dataclass(frozen=True)
class PlannedReminder:
    lead_hours: int
    due_at: datetime  # slot - lead
    next_at: datetime  # the first allowed call time at or after due_at
    expires_at: datetime  # slot - cutoff


def before_hours_of(pack: Any) -> tuple[int, ...]:
    """The pack's reminder leads (`clinic.yaml` reminders.before_hours); () when the pack has none."""
    reminders = getattr(pack.clinic, "reminders", None)
    if reminders is None:
        return ()
    hours = reminders.get("before_hours") if isinstance(reminders, dict) else getattr(reminders, "before_hours", None)
    return tuple(int(h) for h in hours or () if int(h) > 0)


def plan_reminders(slot_start: datetime, now: datetime, rules: DeskRules, policy: CallPolicy,
                   patient_tz: str | None = None) -> list[PlannedReminder]:
    """The reminders of an appointment starting at `slot_start`, planned at `now`, earliest first."""
    if slot_start.tzinfo is None or now.tzinfo is None:
        raise ValueError("times must carry a timezone")
    expires = slot_start - rules.reminder_cutoff
    planned: list[PlannedReminder] = []
    for lead in sorted(set(rules.before_hours), reverse=True):
        due = slot_start - timedelta(hours=lead)
        if due <= now:  # past already when it is planned: skipped, never called late
            continue
        nxt = policy.next_allowed(due, patient_tz)
        if nxt is None or nxt >= expires:  # no call time left before the appointment
            continue
        planned.append(PlannedReminder(lead, due, nxt, expires))
    kept: list[PlannedReminder] = []
    for i, p in enumerate(planned):  # a reminder pushed close to the next one: the next one stays
        later = planned[i + 1:]
        if not any(q.next_at - p.next_at < rules.merge for q in later):
            kept.append(p)
    return kept


def stale_reminder(planned_slot: datetime, status: str, slot_start: datetime) -> str | None:
    """Why a planned reminder no longer holds (its disposition when cancelled), or None."""
    if status != "booked":
        return f"appointment-{status}"
    if planned_slot != slot_start:
        return "appointment-moved"
    return None


def callback_number(raw: str | None, min_digits: int = 7) -> str | None:
    """The number to call back in `normalize_phone` form; None for a withheld or anonymous caller
    or an internal extension (fewer than `min_digits` digits)."""
    text = (raw or "").strip().lower()
    if not text or any(w in text for w in WITHHELD):
        return None
    key = normalize_phone(text)
    if len(key) < min_digits or len(re.sub(r"\D", "", text)) < min_digits:
        return None
    return key


def said_something(turns: Iterable[Any]) -> bool:
    """Whether the caller said (or keyed) anything: a caller turn with a letter or a digit."""
    return any(getattr(t, "speaker", None) == "caller" and re.search(r"\w", getattr(t, "text", "") or "")
               for t in turns)


def callback_decision(raw: str | None, *, opted_out: bool, pending: bool, min_digits: int = 7) -> tuple[bool, str]:
    """(call back?, why): never a withheld number or an extension, never an opted-out number,
    and one pending call-back per number at most."""
    if callback_number(raw, min_digits) is None:
        return False, "no-number"
    if opted_out:
        return False, "opted-out"
    if pending:
        return False, "already-pending"
    return True, "ok"


@dataclass(frozen=True)
class CallbackTimes:
    due_at: datetime
    next_at: datetime
    expires_at: datetime


def plan_callback(ended_at: datetime, rules: DeskRules, policy: CallPolicy, patient_tz: str | None = None
                  ) -> CallbackTimes | None:
    """When to call back a call that ended at `ended_at`: after the delay, at the next allowed call
    time (a call missed on Saturday afternoon is returned when the clinic opens on Monday), and
    kept for the call-back window from then; None when the policy allows no call at all."""
    due = ended_at + rules.callback_delay
    nxt = policy.next_allowed(due, patient_tz)
    if nxt is None:
        return None
    return CallbackTimes(due, nxt, nxt + rules.callback_window)


def disposition_of(slots: dict[str, Any], *, talked: bool, booked: bool = False) -> str:
    """What an answered desk call achieved: confirmed / moved / cancelled (the appointment),
    voicemail, wrong-person, identity-failed, opted-out, hung-up (nothing said), else reached."""
    changes = slots.get("appointment_changes") or []
    ops = [str(c.get("op")) for c in changes]
    for op, word in (("cancel", "cancelled"), ("move", "moved"), ("confirm", "confirmed")):
        if op in ops:
            return word
    out = slots.get("outbound") or {}
    told = str(out.get("disposition") or "")
    if told in ("voicemail", "wrong-person", "identity-failed", "opted-out"):
        return told
    if not talked:
        return "hung-up"
    if booked or out.get("booked"):
        return "booked"
    return "reached"


RETRY = ("voicemail", "hung-up")  # an answered call that did not reach anyone is tried again


# ---- concern follow-ups ------------------------------------------------------------------

@dataclass(frozen=True)
class FollowUpRule:
    """The pack's `outbound.yaml` concern_follow_up: call `after` the escalation is resolved, at
    the next allowed call time; not placed within `within` of that time, it is dropped."""

    after: timedelta
    within: timedelta


def plan_follow_up(resolved_at: datetime, rule: FollowUpRule, policy: CallPolicy, patient_tz: str | None = None
                   ) -> CallbackTimes | None:
    """When to place a resolved concern's follow-up; None when there is no call time at all."""
    due = resolved_at + rule.after
    nxt = policy.next_allowed(due, patient_tz)
    return None if nxt is None else CallbackTimes(due, nxt, nxt + rule.within)


FOLLOW_UP_ANSWERS = ("better", "same", "worse", "unclear", "red-flag")  # all but `better` escalated again


def follow_up_disposition(slots: dict[str, Any]) -> str:
    """What a concern follow-up call achieved: its answer (better / same / worse / unclear /
    red-flag), else why it did not get one (voicemail, wrong-person, identity-failed, opted-out;
    hung-up, retried, when the patient was not reached or hung up before answering)."""
    out = slots.get("outbound") or {}
    answer = (slots.get("concern_follow_up") or {}).get("answer")
    if answer in FOLLOW_UP_ANSWERS:
        return str(answer)
    if out.get("escalated"):
        return "red-flag"
    told = str(out.get("disposition") or "")
    if told in ("voicemail", "wrong-person", "identity-failed", "opted-out"):
        return told
    return "hung-up"  # not reached, or hung up before answering: tried again
