"""Which messages a deposit or a recorded treatment gets, queued in one transaction (writer thread).

Payment link: on each configured channel the patient has an address on (the phone they gave,
an email on file) and has not opted out of. Written aftercare: on each channel the patient
consented to at the visit; a text that cannot carry the instructions (PHI-minimal) is a notice
only, and then, as when nothing could be sent, the front desk gets a printable sheet.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from appliance.messaging import store
from appliance.messaging.compose import instructions_text, may_send, money, render, written_due
from appliance.records.audit import Access
from appliance.records.db import transaction
from appliance.records.store import Records


def spoken_when(slot_start: str | None, tz: str) -> str:
    if not slot_start:
        return ""
    t = datetime.fromisoformat(slot_start).astimezone(ZoneInfo(tz))
    hour = t.hour % 12 or 12
    minute = f":{t.minute:02d}" if t.minute else ""
    return f"{t:%A}, {t:%B} {t.day} at {hour}{minute} {'AM' if t.hour < 12 else 'PM'}"


def queue_payment_link(r: Records, access: Access, pack: Any, did: int, link: str, ref: str | None,
                       channels: tuple[str, ...], tz: str) -> int:
    """Store the link on the deposit and queue its messages; how many are queued (0: none can go)."""
    with transaction(r.conn):
        r.conn.execute("UPDATE deposits SET link = ?, reference = coalesce(reference, ?) WHERE id = ?", (link, ref, did))
        dep = store.deposit_in(r, did)
        r.store.audit(access, "deposit.read", f"deposit:{did}")
        if dep is None:
            return 0
        values = {"amount": money(int(dep["amount_cents"]), str(dep["currency"])), "link": link,
                  "when": spoken_when(dep["slot_start"], tz), "name": dep["name"]}
        queued = 0
        for channel, address in (("sms", dep["phone"]), ("email", dep["email"])):
            if channel not in channels or not address:
                continue
            ok, _why = may_send("payment-link", store.rights_in(r, dep["patient_id"], channel, address))
            text = render(pack, "payment-link", channel, values) if ok else None
            if text is None:
                continue
            store.queue_in(r, access, purpose="payment-link", subject_ref=f"deposit-{did}", channel=channel,
                           patient_id=dep["patient_id"], recipient=address, subject=text.subject, body=text.body,
                           template=text.template, deposit_id=did)
            queued += 1
    return queued


def _plan(r: Records, plan_id: int) -> dict[str, Any] | None:
    cur = r.conn.execute("SELECT a.patient_id, a.workflow, a.product, a.treated_at, p.name, p.phone, p.email "
                         "FROM aftercare_plans a JOIN patients p ON p.id = a.patient_id WHERE a.id = ?", (plan_id,))
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))


def treated_on(plan: dict[str, Any], tz: str) -> date | None:
    return datetime.fromisoformat(plan["treated_at"]).astimezone(ZoneInfo(tz)).date() if plan["treated_at"] else None


def sheet(pack: Any, plan: dict[str, Any], tz: str) -> dict[str, Any]:
    """A plan's printable aftercare sheet: the approved instructions, the procedure, the day."""
    wf = pack.workflows.get(plan["workflow"] or "")
    day = treated_on(plan, tz)
    name = plan["product"] or next((t.name for t in pack.menu.treatments if wf and t.workflow == wf.id),
                                   wf.procedure if wf else "")
    return {"procedure": name, "date": f"{day:%B} {day.day}, {day.year}" if day else "",
            "instructions": [x.text for x in wf.immediate_instructions] if wf else [], "name": plan["name"] or "",
            "clinic": pack.clinic.name, "phone": pack.clinic.phone or ""}


def queue_written(r: Records, access: Access, pack: Any, plan_id: int, channels: tuple[str, ...], today: date) -> str:
    """The plan's written instructions: 'sent' (queued), 'sheet' (a staff task), or 'not-due'."""
    tz = pack.clinic.timezone
    with transaction(r.conn):
        plan = _plan(r, plan_id)
        r.store.audit(access, "aftercare_plan.read", f"plan:{plan_id}")
        day = treated_on(plan, tz) if plan else None
        if plan is None or day is None or plan["workflow"] not in pack.workflows or not written_due(day, today):
            return "not-due"
        values = sheet(pack, plan, tz)
        values["instructions"] = instructions_text(values["instructions"])
        full = 0
        for channel, address in (("sms", plan["phone"]), ("email", plan["email"])):
            if channel not in channels or not address:
                continue
            rights = store.rights_in(r, plan["patient_id"], channel, address)
            ok, _why = may_send("aftercare-instructions", rights)
            text = render(pack, "aftercare-instructions", channel, values, details=rights.details) if ok else None
            if text is None:
                continue
            carries = "instructions" in text.carries
            store.queue_in(r, access, purpose="aftercare-instructions" if carries else "aftercare-notice",
                           subject_ref=f"plan-{plan_id}", channel=channel, patient_id=plan["patient_id"],
                           recipient=address, subject=text.subject, body=text.body, template=text.template,
                           plan_id=plan_id)
            full += carries
        if not full:
            store.add_task_in(r, access, "print-aftercare-sheet", f"plan:{plan_id}", patient_id=plan["patient_id"],
                              plan_id=plan_id)
    return "sent" if full else "sheet"
