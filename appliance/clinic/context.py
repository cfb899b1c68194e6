"""What the engine knows about the caller before the call, and the call's mutable state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from appliance.clinic.appointments import Upcoming
from appliance.clinic.dates import DateReading
from appliance.clinic.rebooking import Window
from appliance.clinic.schedule import Slot
from appliance.clinic.schema import Question, Workflow
from appliance.clinic.states import State


@dataclass(frozen=True)
class CallerContext:
    """From caller ID and the patient record (or a `converse` script)."""

    phone: str | None = None
    known_patient: bool = False
    name: str | None = None
    procedure: str | None = None  # treatment id, workflow id, or family of the last treatment
    product: str | None = None
    area: str | None = None
    treated_on: date | None = None
    session: int | None = None


@dataclass
class CallState:
    """The call's mutable state. `state` (and `price_return`) hold a `State`; a plain string set
    from outside the typed code (a test, a script) is checked at once: `State("intake")`, and a
    misspelt one raises ValueError instead of being dispatched anywhere."""

    state: State = State.GREETING
    retries: int = 0
    patient_type: str | None = None  # "new" | "returning"
    pending: Question | None = None
    booking_kind: str = "treatment"  # "treatment" | "consult" | "none"
    workflow: Workflow | None = None  # the procedure the call is about (aftercare / touch-up)
    treated_on: date | None = None
    after_context: str = "concern"  # what the aftercare context is needed for: "concern" | "touch_up"
    concern_raised: bool = False
    escalated_rank: int = 0
    follow_up: Window | None = None  # a touch-up / series booking
    slots_offered: list[Slot] = field(default_factory=list)
    slot_index: int = 0
    phone_confirmed: bool = False
    screen_flags: list[str] = field(default_factory=list)
    screen_answers: dict[str, str] = field(default_factory=dict)
    said_outcomes: set[str] = field(default_factory=set)
    message_taken: bool = False
    deferred: dict[str, tuple[str, DateReading | None]] = field(default_factory=dict)  # screen answers given before they applied
    turn_intent: str | None = None  # the intent read from the latest caller turn
    absorbed: bool = False  # the latest turn filled a slot other than the pending question's
    quoted: bool = False  # a price was already quoted in this call
    price_return: State | None = None  # the step to return to after "which treatment?" for a price
    appt_op: str | None = None  # an existing appointment: cancel | reschedule | confirm | appointment
    appt_name: str | None = None  # the name and date of birth given to find it
    appt_dob: date | None = None
    appt: Upcoming | None = None  # the appointment the call is about

    def __setattr__(self, name: str, value: object) -> None:
        if name in ("state", "price_return") and value is not None:
            value = State(str(value))
        super().__setattr__(name, value)
