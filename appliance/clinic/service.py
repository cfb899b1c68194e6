"""Entry points for the call path: the approved pack for calls, and one conversation per call."""

from __future__ import annotations

from datetime import datetime

from appliance.clinic.appointments import AppointmentDesk
from appliance.clinic.approval import load_approved
from appliance.clinic.clinic_clock import clinic_now as _clinic_clock
from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.pack import DEMO_PACK, Pack
from appliance.clinic.payments import PaymentProvider, provider_for_calls
from appliance.clinic.schedule import Scheduler
from appliance.config import Settings
from appliance.conversation import LanguageModel
from appliance.logs import get_logger

log = get_logger(__name__)


def pack_for_calls(settings: Settings) -> Pack:
    """The configured pack (default: the demo pack), refused with PackNotApproved unless approved and unchanged."""
    pack, approval = load_approved(settings.clinic.pack or DEMO_PACK)
    log.info("clinic.pack_loaded", pack=pack.ref, approved_by_scope=approval.scope, demo=pack.clinic.pack.demo)
    if pack.clinic.pack.demo or approval.scope == "demo":
        log.warning("clinic.demo_pack", pack=pack.ref, note="demo content: not for patient calls")
    return pack


def clinic_now(pack: Pack) -> datetime:
    """The clinic's local wall-clock time (naive), for the engine's `now` (a demo pack's test
    hook: appliance/clinic/clinic_clock.py)."""
    return _clinic_clock(pack)


def new_conversation(pack: Pack, settings: Settings, *, caller: CallerContext, scheduler: Scheduler,
                     llm: LanguageModel | None = None, payments: PaymentProvider | None = None,
                     now: datetime | None = None, desk: AppointmentDesk | None = None) -> ClinicConversation:
    """One call's conversation. Share `scheduler` (and its store) across calls: no double booking.
    `payments`: default, the clinic's configured provider ([payments], [messages])."""
    if payments is None:
        payments = provider_for_calls(settings)
    return ClinicConversation(pack, now=now or clinic_now(pack), caller=caller, scheduler=scheduler,
                              payments=payments, llm=llm if settings.clinic.llm_assist else None, desk=desk)
