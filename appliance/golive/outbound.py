"""Go-live for the outbound scheduler: which due contacts may be dialled.

The store asks the gate for every contact it is about to claim, inside its claim transaction:

- `dial`: place the call;
- `hold`: the appliance may not make this call (a demo pack on a clinic's PBX, a workflow or call
  type not live in the pilot); the contact goes to staff as a routine task, because a check-in
  the appliance may not make is still owed to the patient;
- `review`: the supervised period runs; the call waits, as a held action in the console, until a
  staff member releases it (then it is dialled at the next tick) or discards it;
- `discarded`: a reviewer discarded the held call; the contact is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from appliance.config import GoLiveSettings
from appliance.golive import store
from appliance.golive.policy import Pilot, is_test_outbound, outbound_hold, pbx_host
from appliance.records.audit import Access
from appliance.records.base import OnStore, iso

Decision = Literal["dial", "hold", "review", "discarded"]
HOLD_KIND = "aftercare-call"


def contact_hold_id(contact_id: int) -> str:
    return f"contact-{contact_id}"


@dataclass(frozen=True)
class OutboundGate:
    golive: GoLiveSettings
    demo: bool
    pbx: str | None  # the host outbound calls go through

    @classmethod
    def of(cls, settings: Any, demo: bool) -> OutboundGate:
        sip = settings.sip
        return cls(settings.golive, demo, pbx_host(sip.outbound_proxy or sip.registrar))

    def decide(self, r: OnStore, access: Access, *, contact_id: int, kind: str, day: int, workflow: str | None,
               phone: str, patient_ref: str) -> tuple[Decision, str]:
        """Runs inside the caller's transaction on `r.conn` (its audit event through `r.store`)."""
        state = store.load_state(r)
        pilot = Pilot.of(self.golive, state.get("enabled_workflows") or ())
        test = is_test_outbound(self.golive, number=phone, pbx=self.pbx)
        why = outbound_hold(demo=self.demo, test_call=test, pilot=pilot, kind=kind, workflow=workflow)
        if why is not None:
            return "hold", why
        if not (self.golive.supervised and not state.get("supervised_ended_at")):
            return "dial", ""
        hid = contact_hold_id(contact_id)
        held = store._get(r, store.HOLD + hid)
        if held is None:
            store._put(r, store.HOLD + hid, {
                "id": hid, "call_key": "", "workflow": workflow, "kind": HOLD_KIND, "created_at": iso(),
                "payload": {"contact_id": contact_id, "contact": kind, "day": day, "patient_ref": patient_ref},
                "status": "held", "reviewed_by": None, "reviewed_at": None})
            r.store.audit(access, "golive.hold", f"hold:{hid}")
            return "review", "the supervised period holds outbound calls for review"
        if held["status"] == "released":
            return "dial", ""
        if held["status"] == "discarded":
            return "discarded", f"discarded in review by {held.get('reviewed_by') or 'staff'}"
        return "review", "waiting for staff review"
