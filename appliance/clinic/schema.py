"""The protocol pack schema: what each YAML file must contain (pydantic, extra keys refused).

Clinical sentences (instructions, approved answers, escalation lines, screen outcomes) carry an
`id` so every spoken sentence can name its source. Cross-file rules (menu -> workflow, on-call
-> provider, unique ids) live in `pack.py`.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from appliance.clinic.concern_schema import ConcernFollowUp
from appliance.clinic.satisfaction_schema import Satisfaction

Family = Literal["neuromodulator", "filler", "laser", "peel", "microneedling"]
FAMILIES: tuple[str, ...] = ("neuromodulator", "filler", "laser", "peel", "microneedling")
Severity = Literal["emergency", "urgent", "routine"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ItemId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=600, strip_whitespace=True)]
Phrase = Annotated[str, StringConstraints(min_length=2, max_length=80, strip_whitespace=True)]
_NUMBER = re.compile(r"^\+?[0-9][0-9 ().-]{1,24}[0-9]$")
_SPAN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_keys(keys: object, model: type[BaseModel], *, not_lines: tuple[str, ...] = ()) -> None:
    """A Literal of line names names exactly the model's fields, but `not_lines`: raised at import otherwise."""
    fields = set(model.model_fields) - set(not_lines)
    named = set(get_args(keys))
    if named != fields:
        raise TypeError(f"{model.__name__}: the line names and the fields differ: {sorted(named ^ fields)}")


def _span(v: str) -> str:
    if not _SPAN.match(v) or v[:5] >= v[6:]:
        raise ValueError("expected a time span like 09:00-17:00 (24-hour clock, start before end)")
    return v


class Line(_M):
    """An approved sentence: spoken verbatim, cited by its id."""

    id: ItemId
    text: Text


# ---- clinic.yaml ----

class PackInfo(_M):
    id: ItemId
    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,31}$")]
    demo: bool = False
    notice: str | None = None


class Provider(_M):
    id: ItemId
    name: Text
    role: Literal["np", "md", "rn", "pa", "aesthetician"]
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9*#]{1,12}$")]
    families: list[Family] = Field(min_length=1)
    hours: dict[Weekday, list[str]]

    @field_validator("hours")
    @classmethod
    def _spans(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for spans in v.values():
            for s in spans:
                _span(s)
        return v


class OnCall(_M):
    provider: ItemId
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9*#]{1,12}$")]


class AfterHoursOnCall(_M):
    """Who is on call outside opening hours: an extension, or an external number the PBX dials
    through its trunk. `transfers: true` lets the appliance put a patient through (a red flag's
    warm transfer, pressing 1 on the page); false: the page only (call, or text where on).
    `nights`: only the closed stretches that start on these days (Friday night runs from
    Friday's close to the next opening); none: every closed stretch."""

    provider: ItemId
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9*#]{1,12}$")] | None = None
    number: str | None = None
    transfers: bool = False
    nights: list[Weekday] | None = Field(None, min_length=1)

    @field_validator("number")
    @classmethod
    def _number(cls, v: str | None) -> str | None:
        if v is not None and not _NUMBER.match(v):
            raise ValueError('expected a phone number the PBX can dial, such as "+1 555 0199" (digits, with '
                             "spaces, dashes or dots between them; a leading + for the country code)")
        return v

    @model_validator(mode="after")
    def _one_way(self) -> AfterHoursOnCall:
        if (self.extension is None) == (self.number is None):
            raise ValueError("give either extension (a desk phone) or number (dialled through the PBX trunk), "
                             "not both or neither")
        return self


class AfterHours(_M):
    on_call: list[AfterHoursOnCall] = Field(min_length=1)  # in order: paged one after the other


class Holiday(_M):
    """A day the clinic is closed: no slot is offered, and the hours answer names it."""

    date: dt.date
    name: Text


class Cancellation(_M):
    """The clinic's cancellation policy, applied when a caller cancels by phone: with at least
    `notice_hours` of notice the deposit is `deposit_in_notice`, with less it is `deposit_late`."""

    notice_hours: int = Field(ge=0, le=24 * 14)
    deposit_in_notice: Literal["refunded", "kept"] = "refunded"
    deposit_late: Literal["refunded", "kept"] = "kept"


class Reminders(_M):
    """Appointment reminder calls: one contact this many hours before each booked appointment."""

    before_hours: list[Annotated[int, Field(ge=1, le=24 * 14)]] = Field(min_length=1, max_length=4)


class Clinic(_M):
    pack: PackInfo
    name: Text
    phone: str | None = None
    timezone: str
    hours: dict[Weekday, str]
    holidays: list[Holiday] = Field(default_factory=list)  # closed all day (the one source of closures)
    providers: list[Provider] = Field(min_length=1)
    on_call: list[OnCall] = Field(min_length=1)
    front_desk_extension: Annotated[str, StringConstraints(pattern=r"^[0-9*#]{1,12}$")]
    cancellation: Cancellation | None = None  # none: a caller's cancellation goes to staff as a message
    reminders: Reminders | None = None  # none: no reminder calls
    after_hours: AfterHours | None = None  # none: outside opening hours the daytime on_call chain is paged

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError("expected an IANA time zone such as America/Los_Angeles") from e
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: dict[str, str]) -> dict[str, str]:
        for s in v.values():
            if s != "closed":
                _span(s)
        return v


# ---- menu.yaml ----

class Area(_M):
    id: ItemId
    name: Text
    synonyms: list[Phrase] = Field(default_factory=list)
    lower_face: bool = False


class Dose(_M):
    min: float = Field(gt=0)
    max: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> Dose:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class DepositPolicy(_M):
    id: ItemId
    kind: Literal["refundable", "non_refundable", "partial_credit"]
    amount: int = Field(ge=0, le=5000)
    credit_percent: int | None = Field(None, ge=1, le=100)
    line: Line

    @model_validator(mode="after")
    def _credit(self) -> DepositPolicy:
        if self.kind == "partial_credit" and self.credit_percent is None:
            raise ValueError("a partial_credit policy needs credit_percent")
        return self


class Treatment(_M):
    id: ItemId
    name: Text
    family: Family
    workflow: ItemId
    synonyms: list[Phrase] = Field(default_factory=list)
    unit: Literal["units", "syringe", "session"]
    price_per_unit: float = Field(ge=0)
    doses: dict[str, Dose] = Field(min_length=1)
    deposit: ItemId
    minutes: int = Field(ge=10, le=480)


class Consult(_M):
    id: ItemId
    name: Text
    minutes: int = Field(ge=10, le=240)
    price: float = Field(ge=0)
    deposit: ItemId | None = None


class Menu(_M):
    currency: Literal["USD", "CAD", "EUR", "GBP", "AUD"] = "USD"
    areas: list[Area] = Field(min_length=1)
    deposit_policies: list[DepositPolicy] = Field(min_length=1)
    consult: Consult
    treatments: list[Treatment] = Field(min_length=1)


# ---- screen.yaml ----

class ScreenOutcome(_M):
    outcome: Literal["proceed", "provider_review", "consult_only", "no_booking"]
    flag: ItemId | None = None
    line: Line | None = None

    @model_validator(mode="after")
    def _said(self) -> ScreenOutcome:
        if self.outcome != "proceed" and (self.line is None or self.flag is None):
            raise ValueError("an outcome other than proceed needs a flag and the approved line to speak")
        return self


class Question(_M):
    id: ItemId
    slot: Literal["treatment", "areas", "prior_treatments", "last_neuromodulator", "pregnant_or_breastfeeding",
                  "anticoagulants", "autoimmune", "dental_work", "budget"]
    kind: Literal["treatment", "areas", "yes_no", "date", "text", "budget"]
    ask: Text
    screen: bool = False
    when_families: list[Family] = Field(default_factory=list)
    when_lower_face: bool = False
    when_yes: str | None = None  # ask only if this earlier yes/no slot was answered yes (or not answered)
    on_yes: ScreenOutcome | None = None
    on_no: ScreenOutcome | None = None
    on_declined: ScreenOutcome | None = None
    within_days: int | None = Field(None, ge=1, le=730)
    on_within: ScreenOutcome | None = None

    @model_validator(mode="after")
    def _outcomes(self) -> Question:
        if self.screen and self.on_declined is None:
            raise ValueError("a screen question needs on_declined (what happens when the caller will not answer)")
        if self.kind == "yes_no" and self.screen and self.on_yes is None:
            raise ValueError("a yes/no screen question needs on_yes")
        if (self.within_days is None) != (self.on_within is None):
            raise ValueError("within_days and on_within go together")
        return self


class RedFlag(_M):
    id: ItemId
    category: ItemId
    severity: Severity
    action: Literal["emergency", "transfer_np", "urgent_callback", "routine_review"]
    phrases: list[Phrase] = Field(min_length=1)
    line: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RedFlag:
        if self.severity == "emergency" and self.action not in ("emergency", "transfer_np"):
            raise ValueError("an emergency red flag needs action emergency or transfer_np")
        return self


class Worsening(_M):
    """A symptom no red flag names, said with a worsening or systemic sign (getting bigger, hot,
    fever, numb, ...): never routine. `by_family` raises the severity per procedure family."""

    id: ItemId
    category: ItemId = "worsening-symptom"
    severity: Literal["emergency", "urgent"] = "urgent"
    action: Literal["emergency", "transfer_np", "urgent_callback"] = "transfer_np"
    by_family: dict[Family, Literal["emergency", "urgent"]] = Field(default_factory=dict)
    line: Text | None = None

    @model_validator(mode="after")
    def _never_lower(self) -> Worsening:
        if self.severity == "emergency" and any(v != "emergency" for v in self.by_family.values()):
            raise ValueError("by_family may only raise the severity (the default is already emergency)")
        if "emergency" in (self.severity, *self.by_family.values()) and self.action == "urgent_callback":
            raise ValueError("an emergency needs action emergency or transfer_np")
        return self


class Screen(_M):
    questions: list[Question] = Field(min_length=1)
    red_flags: list[RedFlag] = Field(default_factory=list)
    worsening: Worsening | None = None  # unnamed symptom + worsening sign; None: urgent, transfer_np


# ---- workflows/*.yaml ----

class CheckIn(_M):
    """One planned check-in call and what it carries out (see appliance/clinic/checkin.py). All
    three lists are optional: without them the call says its intro (and, on the first check-in,
    the immediate instructions), then the concern question, as packs did before."""

    id: ItemId
    day: int = Field(ge=0, le=365)
    purpose: Text
    lines: list[ItemId | Line] = Field(default_factory=list)  # said after the intro: ids of this workflow's
    # immediate_instructions or before_visit lines, or the check-in's own approved lines (id + text)
    topics: list[ItemId] = Field(default_factory=list)  # ids of this workflow's topics: their answers are read
    questions: list[ItemId] = Field(default_factory=list)  # ids of this workflow's questions, asked in order
    # before the concern question (every check-in ends with it), each answer kept in the call's outcome


class Topic(_M):
    id: ItemId
    topic: Text
    phrases: list[Phrase] = Field(min_length=1)
    answer: Text
    reads_instructions: bool = False  # after the answer, read the immediate instructions again


class ResponseTime(_M):
    emergency_minutes: int = Field(0, ge=0, le=15)
    urgent_minutes: int = Field(ge=1, le=240)
    routine_hours: int = Field(ge=1, le=72)


class Window(_M):
    from_day: int = Field(ge=0, le=730)
    to_day: int = Field(ge=0, le=730)

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.from_day > self.to_day:
            raise ValueError("from_day must not exceed to_day")
        return self


class Series(_M):
    sessions: int = Field(ge=2, le=12)
    interval_days: int = Field(ge=7, le=180)


class Rebooking(_M):
    touch_up: Window | None = None
    recall_days: int | None = Field(None, ge=14, le=730)
    series: Series | None = None
    touch_up_deposit: bool = False


class Documentation(_M):
    required: list[Text] = Field(min_length=1)
    note: Text | None = None


class Workflow(_M):
    id: ItemId
    family: Family
    procedure: Text
    products: list[Text] = Field(default_factory=list)
    device: Text | None = None
    indication: Text | None = None
    immediate_instructions: list[Line] = Field(min_length=1)
    before_visit: list[Line] = Field(default_factory=list)  # read when an appointment for it is confirmed
    check_ins: list[CheckIn] = Field(min_length=1)
    questions: list[Line] = Field(min_length=1)
    topics: list[Topic] = Field(default_factory=list)
    red_flags: list[RedFlag] = Field(min_length=1)
    response_time: ResponseTime
    review_window: Window
    rebooking: Rebooking
    documentation: Documentation

    @model_validator(mode="after")
    def _laser(self) -> Workflow:
        if self.family == "laser" and not (self.device and self.indication):
            raise ValueError("a laser workflow needs device and indication (one workflow per device and indication)")
        return self


# ---- dialogue.yaml: the conversation's own lines (ids are the keys) ----

# The name of every line of dialogue.yaml (the fields of `Dialogue`, checked at import): the
# engine names its lines with these, so a misspelt key is a type error, not a runtime lookup.
DialogueKey = Literal[
    "greeting", "ask_new_or_returning", "ask_returning_reason", "ask_aftercare_context", "ask_concern",
    "concern_noted", "clinical_question_noted", "escalate_emergency", "escalate_urgent", "escalate_routine",
    "escalated_hold", "transfer_failed", "concern_first", "screen_intro", "quote", "quote_single", "quote_consult",
    "offer_booking", "offer_slot", "slot_declined", "no_slots", "ask_name", "confirm_phone", "ask_phone", "booked",
    "payment_link", "touch_up_intro", "touch_up_too_late", "ask_message", "message_taken", "reprompt",
    "dtmf_yes_no", "declined_ack", "anything_else", "how_help", "series_next", "goodbye", "confirm_symptom",
    "greeting_known", "price_unit", "price_ask_treatment", "complaint_noted", "opt_out_ack", "wrong_number",
    "payment_link_staff", "appt_identify", "appt_ask_dob", "appt_ask_name", "appt_not_found", "appt_found",
    "appt_confirmed", "appt_cancel_check", "appt_cancel_check_late", "appt_cancelled", "appt_cancelled_refund",
    "appt_cancelled_kept", "appt_kept", "appt_move_intro", "appt_moved", "before_visit_intro",
    "escalate_emergency_no_transfer", "greeting_callback", "greeting_after_hours", "concern_noted_at",
    "clinical_question_noted_at", "complaint_noted_at", "escalate_routine_at", "escalate_urgent_after_hours",
    "transfer_failed_at", "slot_taken"
]


class Dialogue(_M):
    greeting: Text
    ask_new_or_returning: Text
    ask_returning_reason: Text
    ask_aftercare_context: Text
    ask_concern: Text
    concern_noted: Text
    clinical_question_noted: Text
    escalate_emergency: Text
    escalate_urgent: Text
    escalate_routine: Text
    escalated_hold: Text
    transfer_failed: Text  # said when the warm transfer to the on-call injector did not connect
    concern_first: Text
    screen_intro: Text
    quote: Text
    quote_single: Text
    quote_consult: Text
    offer_booking: Text
    offer_slot: Text
    slot_declined: Text
    no_slots: Text
    ask_name: Text
    confirm_phone: Text
    ask_phone: Text
    booked: Text
    payment_link: Text  # promises a text: said only when an SMS channel is configured ([messages])
    touch_up_intro: Text
    touch_up_too_late: Text
    ask_message: Text
    message_taken: Text
    reprompt: Text
    dtmf_yes_no: Text
    declined_ack: Text
    anything_else: Text
    how_help: Text
    series_next: Text
    goodbye: Text
    confirm_symptom: Text | None = None  # asked once when a symptom word was heard with low ASR confidence
    # Understanding callers as they talk (optional; the engine falls back to the lines above).
    greeting_known: Text | None = None  # the greeting for a caller ID that matches one patient
    price_unit: Text | None = None  # a price question with no area yet: {treatment} {price} {unit_one}
    price_ask_treatment: Text | None = None  # a price question that names no treatment
    complaint_noted: Text | None = None  # unhappy with a result: staff call back ({hours}); no selling
    opt_out_ack: Text | None = None  # "stop calling": no more calls, then goodbye
    wrong_number: Text | None = None  # "wrong number": the clinic's name, then goodbye
    payment_link_staff: Text | None = None  # the deposit without an SMS channel: the front desk sends the link
    # Existing appointments by phone (all optional: without them such calls become messages for staff).
    appt_identify: Text | None = None  # ask name and date of birth to find the appointment
    appt_ask_dob: Text | None = None  # the date of birth alone
    appt_ask_name: Text | None = None  # the name alone
    appt_not_found: Text | None = None  # nothing found under those details (a message follows)
    appt_found: Text | None = None  # {when}: confirm, move or cancel?
    appt_confirmed: Text | None = None  # {when}
    appt_cancel_check: Text | None = None  # {when}, with notice: cancel it?
    appt_cancel_check_late: Text | None = None  # {when} {hours}, late: the deposit is kept; cancel or move?
    appt_cancelled: Text | None = None  # {when}, no deposit involved
    appt_cancelled_refund: Text | None = None  # {when}: the deposit will be refunded
    appt_cancelled_kept: Text | None = None  # {when}: the deposit is kept under the policy
    appt_kept: Text | None = None  # {when}: the caller chose not to cancel
    appt_move_intro: Text | None = None  # {when} (the current time); the slot offers follow
    appt_moved: Text | None = None  # {when} {provider}
    before_visit_intro: Text | None = None  # before the before-visit instructions, when an appointment is confirmed
    escalate_emergency_no_transfer: Text | None = None  # the emergency line when nobody can take a transfer
    greeting_callback: Text | None = None  # the clinic returns a missed call: then the usual open question
    # Outside opening hours (all optional; a pack without them says the lines above at any hour).
    greeting_after_hours: Text | None = None  # the clinic is closed now, {when} it opens again, the open question
    concern_noted_at: Text | None = None  # concern_noted with the computed call-back time: {when}
    clinical_question_noted_at: Text | None = None  # {when}
    complaint_noted_at: Text | None = None  # {when}
    escalate_routine_at: Text | None = None  # {when}
    escalate_urgent_after_hours: Text | None = None  # {when}: "within 15 minutes" only while someone is on call
    transfer_failed_at: Text | None = None  # {when}
    slot_taken: Text | None = None  # {when} {provider}: the accepted time was just booked on another call

    def text(self, key: DialogueKey) -> str | None:
        """The pack's line `key`; None for an optional line the pack leaves out."""
        line: str | None = getattr(self, key)  # a typed lookup: DialogueKey names exactly the fields
        return line

    @model_validator(mode="after")
    def _placeholders(self) -> Dialogue:
        for name, text in self:
            if text is None:
                continue
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            unknown = used - PLACEHOLDERS
            if unknown:
                raise ValueError(f"{name}: unknown placeholder {{{sorted(unknown)[0]}}}; expected one of "
                                 f"{', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}")
        return self


_check_keys(DialogueKey, Dialogue)


PLACEHOLDERS = frozenset({"clinic", "treatment", "area", "low", "high", "unit", "unit_one", "price", "total_low",
                          "total_high", "when", "provider", "minutes", "hours", "phone", "kind", "reason",
                          "from_day", "to_day"})


# ---- outbound.yaml: the lines of outbound aftercare and recall calls (optional file) ----

OUTBOUND_PLACEHOLDERS = frozenset({"clinic", "phone", "treatment", "date", "from_date", "to_date", "when", "kind"})
# Spoken before the patient's identity is confirmed (or to whoever answered): no PHI placeholders.
OUTBOUND_NO_PHI = ("opener", "ask_name", "ask_dob", "identity_retry", "identity_failed", "voicemail", "wrong_person",
                   "opt_out_ack", "goodbye")
_PHI_PLACEHOLDERS = frozenset({"treatment", "date", "from_date", "to_date", "when", "kind"})


# The spoken lines of outbound.yaml (its text fields; checked at import).
OutboundKey = Literal[
    "opener", "ask_name", "ask_dob", "identity_retry", "identity_failed", "voicemail", "wrong_person",
    "intro_check_in", "intro_review", "intro_touch_up", "intro_recall", "intro_series", "instructions_intro",
    "no_concern", "review_reminder", "offer_booking", "booking_declined", "opt_out_ack", "goodbye", "written_check",
    "intro_reminder", "before_visit_intro"
]


class OutboundLines(_M):
    opener: Text
    ask_name: Text
    ask_dob: Text
    identity_retry: Text
    identity_failed: Text
    voicemail: Text
    wrong_person: Text
    intro_check_in: Text
    intro_review: Text
    intro_touch_up: Text
    intro_recall: Text
    intro_series: Text
    instructions_intro: Text
    no_concern: Text
    review_reminder: Text
    offer_booking: Text
    booking_declined: Text
    opt_out_ack: Text
    goodbye: Text  # the outbound call's closing line
    written_check: Text | None = None  # day 1, when the instructions were sent in writing: "did they reach you?"
    intro_reminder: Text | None = None  # an appointment reminder, after identity: {when}; confirm / move / cancel
    before_visit_intro: Text | None = None  # before the treatment's before-visit instructions
    concern_follow_up: ConcernFollowUp | None = None  # the call after staff resolve a concern (concern_schema.py)
    answering_machine_phrases: list[Phrase] = Field(min_length=1)
    wrong_person_phrases: list[Phrase] = Field(min_length=1)
    opt_out_phrases: list[Phrase] = Field(min_length=1)
    satisfaction: Satisfaction | None = None  # the last check-in's 1-5 question (satisfaction_schema.py)

    @field_validator("*")
    @classmethod
    def _placeholders(cls, text: object, info: ValidationInfo) -> object:
        if not isinstance(text, str):
            return text
        used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        if used - OUTBOUND_PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{sorted(used - OUTBOUND_PLACEHOLDERS)[0]}}}; expected "
                             f"one of {', '.join('{' + p + '}' for p in sorted(OUTBOUND_PLACEHOLDERS))}")
        if info.field_name in OUTBOUND_NO_PHI and used & _PHI_PLACEHOLDERS:
            raise ValueError(f"is spoken before identity is confirmed and must not name "
                             f"{{{sorted(used & _PHI_PLACEHOLDERS)[0]}}}")
        return text

    def text(self, key: OutboundKey) -> str | None:
        """The outbound line `key`; None for an optional line the pack leaves out."""
        line: str | None = getattr(self, key)  # a typed lookup: OutboundKey names exactly the text fields
        return line


_check_keys(OutboundKey, OutboundLines, not_lines=("concern_follow_up", "answering_machine_phrases",
                                                 "wrong_person_phrases", "opt_out_phrases", "satisfaction"))
