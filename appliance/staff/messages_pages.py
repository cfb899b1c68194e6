"""The console's pages for messages, staff tasks and treatments (front desk and clinicians).

  /tasks                 open staff tasks: payment links to send (mark sent, send by text,
                         mark paid), aftercare sheets to print
  /messages              messages to patients and their state; dead letters first, sent again
                         on request
  /treatments/new        record a treatment: the aftercare plan (scheduler store's
                         `record_treatment`), the consents, the written instructions
  /aftercare/plans/N/sheet  the printable aftercare sheet of a plan
  /reviews/N/completed   a plan's review was left (review_pages.py; also under /api/)

Every page needs a session; every form posts the session's CSRF token; every read of patient
data is audited by the store functions behind it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appliance.messaging import store
from appliance.messaging.compose import money
from appliance.messaging.plans import queue_payment_link, sheet
from appliance.records.audit import Access
from appliance.records.base import iso
from appliance.records.db import transaction
from appliance.records.errors import ConflictError, NotFoundError
from appliance.records.service import AsyncRecords
from appliance.records.store import Records
from appliance.staff.api import RecordId
from appliance.staff.auth import Session, allowed
from appliance.staff.html import csrf_field, e, page, table
from appliance.staff.review_pages import register_reviews
from appliance.staff.web import Forbidden, check_csrf, require

H = HTMLResponse
Field = Annotated[str, Form(max_length=200)]


def _who(s: Session, reason: str) -> Access:
    return Access(f"staff:{s.username}", reason)


def _task_actions(t: dict[str, Any], s: Session, sms: bool) -> str:
    f = csrf_field(s)
    if t["kind"] == "print-aftercare-sheet":
        return (f'<a href="/aftercare/plans/{t["plan_id"]}/sheet" target="_blank">Print sheet</a>'
                f'<form method="post" action="/tasks/{t["id"]}/done">{f}<button>Done</button></form>')
    out = ""
    if t["deposit_status"] == "requested":
        texting = (f'<input name="link" type="url" maxlength="500" placeholder="https://… payment link" '
                   f'aria-label="Payment link" value="{e(t["detail"].get("link") or "")}">' if sms else "")
        out += (f'<form method="post" action="/tasks/{t["id"]}/sent">{f}{texting}<button name="how" value="text">'
                f'{"Send by text" if sms else ""}</button><button name="how" value="self">I sent it</button></form>'
                if sms else f'<form method="post" action="/tasks/{t["id"]}/sent">{f}<button name="how" value="self">'
                f'Link sent</button></form>')
    if t["deposit_status"] in ("requested", "sent"):
        out += f'<form method="post" action="/tasks/{t["id"]}/paid">{f}<button>Deposit paid</button></form>'
    return out


def _task_rows(rows: list[dict[str, Any]], s: Session, sms: bool) -> str:
    out = []
    for t in rows:
        what = ("Send the deposit payment link" if t["kind"] == "send-payment-link" else "Print the aftercare sheet")
        amount = money(int(t["amount_cents"]), t["currency"]) if t["amount_cents"] else ""
        out.append(f'<tr data-task="{t["id"]}" data-kind="{e(t["kind"])}"><td>{e(what)}</td><td>{e(t["patient_label"])}'
                   f'<br><small>{e(t["phone"] or "")}</small></td><td>{e(amount)} <span data-deposit="'
                   f'{e(t["deposit_status"] or "")}">{e(t["deposit_status"] or "")}</span></td>'
                   f'<td>{e(t["detail"].get("reason", ""))}</td><td>{_task_actions(t, s, sms)}</td></tr>')
    return "".join(out) or '<tr><td colspan="5">No open tasks.</td></tr>'


def _msg_rows(rows: list[dict[str, Any]], s: Session) -> str:
    out = []
    for m in rows:
        again = (f'<form method="post" action="/messages/{m["id"]}/retry">{csrf_field(s)}<button>Send again</button>'
                 f'</form>' if m["status"] == "dead" and allowed(s.role, "aftercare") else "")
        if m["purpose"] == "review-request" and m.get("plan_id") and allowed(s.role, "aftercare"):
            again += ("<small>review left</small>" if m.get("review_done") else
                      f'<form method="post" action="/reviews/{m["plan_id"]}/completed">{csrf_field(s)}'
                      f'<button>Review left</button></form>')
        cls = ' class="overdue"' if m["status"] == "dead" else ""
        out.append(f'<tr data-message="{m["id"]}" data-status="{e(m["status"])}"><td>{e(m["created_at"][:16])}</td>'
                   f'<td>{e(m["patient_label"])}</td><td>{e(m["purpose"])}</td><td>{e(m["channel"])}</td>'
                   f'<td{cls}>{e(m["status"])}</td><td>{m["attempts"]}</td><td>{e(m["last_error"])}</td>'
                   f'<td>{again}</td></tr>')
    return "".join(out) or '<tr><td colspan="8">No messages.</td></tr>'


def _treatment_form(s: Session, pack: Any, channels: tuple[str, ...], today: date) -> str:
    options = "".join(f'<option value="{e(t.id)}">{e(t.name)}</option>' for t in pack.menu.treatments)
    providers = "".join(f'<option value="{e(p.id)}">{e(p.name)}</option>' for p in pack.clinic.providers)
    areas = "".join(f'<label><input type="checkbox" name="areas" value="{e(a.id)}"> {e(a.name)}</label> '
                    for a in pack.menu.areas)
    written = "".join(f'<label><input type="checkbox" name="written" value="{c}"> by {"text message" if c == "sms" else c}'
                      f'</label> ' for c in channels) or "<small>No message channel configured: a printable sheet.</small>"

    def row(label: str, field: str) -> str:
        return f"<p><label>{label}<br>{field}</label></p>"

    return (f'<form method="post" action="/treatments" id="treatment-form">{csrf_field(s)}'
            + row("Patient name", '<input name="name" required maxlength="120" autocomplete="off">')
            + row("Phone", '<input name="phone" required maxlength="40" inputmode="tel">')
            + row("Date of birth", '<input name="dob" type="date" required>')
            + row("Email (optional)", '<input name="email" type="email" maxlength="200">')
            + row("Procedure", f'<select name="procedure" required>{options}</select>')
            + row("Product (optional)", '<input name="product" maxlength="80">')
            + f"<fieldset><legend>Areas</legend>{areas}</fieldset>"
            + row("Treatment date", f'<input name="treated" type="date" required value="{today.isoformat()}">')
            + row("Provider", f'<select name="provider" required>{providers}</select>')
            + '<fieldset><legend>Consent given at the visit</legend><label><input type="checkbox" name="calls" '
              'value="yes" checked> aftercare calls</label> '
            + f'<br>Written aftercare instructions: {written}'
            + ('<br><label><input type="checkbox" name="details" value="yes"> texts may name the treatment</label>'
               if "sms" in channels and pack.messages is not None and pack.messages.sms_procedure_names else "")
            + '</fieldset><p><button type="submit">Record treatment</button></p></form>')


def register_messaging(app: FastAPI, settings: Any, records: AsyncRecords, pack: Any) -> None:  # noqa: C901 (one route per page)
    from appliance.scheduler.setup import policy_from, rules_from
    from appliance.scheduler.store import ScheduleError, ScheduleStore, Treatment

    channels = settings.messages.channels()
    tz = ZoneInfo(pack.clinic.timezone)
    register_reviews(app, records)  # POST /api/reviews/{plan_id}/completed and the Messages page's button

    @app.get("/tasks", response_class=H, tags=["pages"], summary="Staff tasks: payment links, aftercare sheets")
    async def tasks(request: Request, s: Annotated[Session, Depends(require("appointments"))], msg: str = "") -> str:
        rows = await records.run(lambda r: store.tasks(r, _who(s, "console:tasks")))
        body = table(["Task", "Patient", "Deposit", "Why", ""], [_task_rows(rows, s, "sms" in channels)], "tasks-body")
        return page("Staff tasks", body, s, "/tasks", message=msg[:200])

    async def _task(tid: int, s: Session) -> dict[str, Any]:
        rows = await records.run(lambda r: store.tasks(r, _who(s, "console:tasks"), include_done=True))
        task = next((t for t in rows if t["id"] == tid), None)
        if task is None:
            raise NotFoundError(f"no task {tid}")
        return task

    @app.post("/tasks/{tid}/sent", tags=["pages"], summary="A payment link was sent (or send it by text)")
    async def task_sent(request: Request, tid: RecordId, s: Annotated[Session, Depends(check_csrf)],
                        how: Annotated[str, Form(max_length=10)] = "self",
                        link: Annotated[str, Form(max_length=500)] = "") -> Response:
        if not allowed(s.role, "appointments"):
            raise Forbidden()
        t, who = await _task(tid, s), _who(s, "console:tasks")
        if how == "text" and "sms" in channels:
            if not link.startswith("https://"):
                return RedirectResponse("/tasks?msg=Give the https:// payment link to send it by text", status_code=303)
            n = await records.run(lambda r: queue_payment_link(r, who, pack, t["deposit_id"], link, None, ("sms",),
                                                               pack.clinic.timezone))
            if not n:
                return RedirectResponse("/tasks?msg=This patient cannot be texted (opted out or no number)",
                                        status_code=303)
            msg = "The link is on its way by text; the deposit shows sent once it is delivered."
        else:
            await records.run(lambda r: store.move_deposit(r, who, t["deposit_id"], "sent", s.username))
            msg = "Marked sent."
        await records.run(lambda r: store.finish_task(r, who, tid, s.username))
        return RedirectResponse(f"/tasks?msg={msg}", status_code=303)

    @app.post("/tasks/{tid}/paid", tags=["pages"], summary="The deposit was paid")
    async def task_paid(request: Request, tid: RecordId, s: Annotated[Session, Depends(check_csrf)]) -> Response:
        if not allowed(s.role, "appointments"):
            raise Forbidden()
        t, who = await _task(tid, s), _who(s, "console:tasks")

        def paid(r: Records) -> None:
            with transaction(r.conn):
                store.move_deposit_in(r, who, t["deposit_id"], "paid", s.username)
                r.conn.execute("UPDATE staff_tasks SET status = 'done', done_at = ?, done_by = ? "
                               "WHERE id = ? AND status = 'open'", (iso(), s.username, tid))
        await records.run(paid)
        return RedirectResponse("/tasks?msg=Deposit marked paid.", status_code=303)

    @app.post("/tasks/{tid}/done", tags=["pages"], summary="A task is done")
    async def task_done(request: Request, tid: RecordId, s: Annotated[Session, Depends(check_csrf)]) -> Response:
        if not allowed(s.role, "appointments"):
            raise Forbidden()
        try:
            await records.run(lambda r: store.finish_task(r, _who(s, "console:tasks"), tid, s.username))
        except ConflictError as exc:
            return RedirectResponse(f"/tasks?msg={exc.message}", status_code=303)
        return RedirectResponse("/tasks", status_code=303)

    @app.get("/messages", response_class=H, tags=["pages"], summary="Messages to patients; dead letters")
    async def messages(request: Request, s: Annotated[Session, Depends(require("aftercare"))], msg: str = "") -> str:
        rows = await records.run(lambda r: store.recent(r, _who(s, "console:messages")))
        dead = sum(1 for m in rows if m["status"] == "dead")
        note = (f'<p class="msg" id="dead-letters">{dead} message(s) could not be delivered.</p>' if dead else "")
        body = note + table(["Queued", "Patient", "Purpose", "Channel", "Status", "Attempts", "Last error", ""],
                            [_msg_rows(rows, s)], "messages-body")
        return page("Messages to patients", body, s, "/messages", message=msg[:200])

    @app.post("/messages/{mid}/retry", tags=["pages"], summary="Send a dead letter again")
    async def retry(request: Request, mid: RecordId, s: Annotated[Session, Depends(check_csrf)]) -> Response:
        if not allowed(s.role, "aftercare"):
            raise Forbidden()
        try:
            await records.run(lambda r: store.retry(r, _who(s, "console:messages"), mid))
        except ConflictError as exc:
            return RedirectResponse(f"/messages?msg={exc.message}", status_code=303)
        return RedirectResponse("/messages?msg=Queued again.", status_code=303)

    @app.get("/treatments/new", response_class=H, tags=["pages"], summary="Record a treatment")
    async def treatment_form(request: Request, s: Annotated[Session, Depends(require("aftercare"))],
                             msg: str = "") -> str:
        today = datetime.now(UTC).astimezone(tz).date()
        return page("Record a treatment", _treatment_form(s, pack, channels, today), s, "/treatments/new",
                    message=msg[:200])

    @app.post("/treatments", tags=["pages"], summary="Record a treatment (form): the aftercare plan")
    async def treatment(request: Request, s: Annotated[Session, Depends(check_csrf)], name: Field, phone: Field,
                        dob: Field, procedure: Field, treated: Field, provider: Field, email: Field = "",
                        product: Field = "", calls: Field = "", details: Field = "") -> Response:
        if not allowed(s.role, "aftercare"):
            raise Forbidden()
        form = await request.form()
        areas = [str(a) for a in form.getlist("areas")][:10]
        written = tuple(c for c in (str(w) for w in form.getlist("written")) if c in channels)
        try:
            t = Treatment(name=name, phone=phone, dob=dob, procedure=procedure, treated_on=date.fromisoformat(treated),
                          product=product or None, area=",".join(areas) or None, consent=calls == "yes",
                          source="console", email=email or None, written=written, sms_details=details == "yes",
                          provider=provider or None)
        except ValueError:
            return RedirectResponse("/treatments/new?msg=The treatment date is not a date.", status_code=303)

        def record(r: Records) -> tuple[int, int]:
            sched = ScheduleStore(r.conn, pack, policy_from(pack, settings.outbound), rules=rules_from(settings.outbound))
            plan = sched.record_treatment(_who(s, "console:treatments"), t, datetime.now(UTC))
            return plan, len(sched.contacts(_who(s, "console:treatments"), plan_id=plan))
        try:
            plan, contacts = await records.run(record)
        except ScheduleError as exc:
            return RedirectResponse(f"/treatments/new?msg={exc}"[:300], status_code=303)
        return RedirectResponse(f"/treatments/new?msg=Recorded: aftercare plan {plan} with {contacts} contact(s).",
                                status_code=303)

    @app.get("/aftercare/plans/{plan_id}/sheet", response_class=H, tags=["pages"], summary="Printable aftercare sheet")
    async def print_sheet(request: Request, plan_id: RecordId, s: Annotated[Session, Depends(require("aftercare"))]) -> str:
        from appliance.messaging.plans import _plan

        def read(r: Records) -> dict[str, Any] | None:
            with transaction(r.conn):
                r.store.audit(_who(s, "console:aftercare-sheet"), "aftercare_plan.read", f"plan:{plan_id}")
                return _plan(r, plan_id)
        plan = await records.run(read)
        if plan is None:
            raise NotFoundError(f"no plan {plan_id}")
        sh = sheet(pack, plan, pack.clinic.timezone)
        items = "".join(f"<li>{e(x)}</li>" for x in sh["instructions"])
        body = (f'<p>{e(sh["name"])} · {e(sh["procedure"])} · {e(sh["date"])}</p><ol id="sheet">{items}</ol>'
                f'<p>If anything worries you, call {e(sh["clinic"])} at {e(sh["phone"])}. In an emergency, call 911.</p>')
        return page("Aftercare instructions", body, s, "/tasks")
