"""Server-rendered console pages. Forms post back with the session's CSRF token and
redirect (post/redirect/get); the tables of live pages are re-fetched on SSE events."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appliance.records.errors import ConflictError
from appliance.staff.api import RecordId
from appliance.staff.appointments import appointments_body, outcome_cards, window
from appliance.staff.auth import NAV_ORDER, ROLE_NAMES, Session, allowed
from appliance.staff.checklist import checklist_html, checklist_of, register_checklist
from appliance.staff.concern import follow_up_html, resolved_table
from appliance.staff.dashboard import metric_cards
from appliance.staff.html import csrf_field, e, page, table, when
from appliance.staff.metrics import OUTCOME_DAYS, appointment_cards
from appliance.staff.web import Forbidden, _ctx, check_csrf, current_session, require

H = HTMLResponse


def _esc_rows(rows: list[dict[str, Any]], s: Session) -> str:
    out = []
    for r in rows:
        actions = ""
        if r["status"] == "open" and allowed(s.role, "escalations.acknowledge"):
            actions += (f'<form method="post" action="/escalations/{r["id"]}/acknowledge">{csrf_field(s)}'
                        f'<button type="submit" data-ack="{r["id"]}">Acknowledge</button></form>')
        if r["status"] != "resolved" and allowed(s.role, "escalations.resolve"):
            actions += (f'<form method="post" action="/escalations/{r["id"]}/resolve">{csrf_field(s)}'
                        f'<input name="note" required maxlength="4000" placeholder="Resolution note" '
                        f'aria-label="Resolution note">'
                        f'<button type="submit">Resolve</button></form>')
        due = ("" if r["status"] != "open" else
               f'<span data-deadline="{r["deadline_at"]}"></span>')
        who = e(r["acknowledged_by"] or "") if r["status"] == "acknowledged" else e(r["resolution_note"] or "")
        paged = (f"<br><small>paged: {e(r['paged'])}</small>" if r["paged"] else "") + follow_up_html(r)
        out.append(f'<tr id="esc-{r["id"]}" data-status="{e(r["status"])}"><td><span class="sev-{e(r["severity"])}">'
                   f'{e(r["severity"])}</span></td><td>{e(r["category"])}</td><td>{e(r["patient_label"])}<br>'
                   f'<small>{e(r["detail"])}</small>{_why(r)}</td><td>{when(r["created_at"])}</td>'
                   f'<td>{when(r["deadline_at"])} {due}</td><td>{e(r["status"])} {who}{paged}</td><td>{actions}</td></tr>')
    return "".join(out) or '<tr><td colspan="7">No open escalations.</td></tr>'


def _why(r: dict[str, Any]) -> str:
    """Why the red flag fired (the matched pack phrase, the method, what was heard), folded away."""
    evidence = r.get("evidence") or ""
    if not evidence:
        return ""
    return (f'<details class="why"><summary>Why escalated</summary>'
            f'<p data-evidence="{r["id"]}">{e(evidence)}</p></details>')


def _call_rows(rows: list[dict[str, Any]]) -> str:
    return "".join(f'<tr><td>{e(r["line"])}</td><td>{e(r["caller_label"])}</td><td>{e(r["direction"])}</td>'
                   f'<td>{when(r["started_at"])}</td></tr>' for r in rows) \
        or '<tr><td colspan="4">No calls in progress.</td></tr>'


def _sum_rows(rows: list[dict[str, Any]]) -> str:
    return "".join(f'<tr><td><a href="/summaries/{r["id"]}">#{r["id"]}</a></td><td>{e(r["patient_label"])}</td>'
                   f'<td>{e(r["procedure"])}</td><td>{e(r["status"])}</td><td>{r["corrections"]}</td>'
                   f'<td>{when(r["created_at"])}</td></tr>' for r in rows) or '<tr><td colspan="6">No summaries.</td></tr>'


def register_pages(app: FastAPI) -> None:  # noqa: C901  (one route per page)
    @app.get("/", tags=["pages"], summary="Home: the first page the role may see")
    async def home(s: Annotated[Session, Depends(current_session)]) -> Response:
        first = next(href for href, perm in NAV_ORDER if allowed(s.role, perm))
        return RedirectResponse(first, status_code=303)

    @app.get("/calls", response_class=H, tags=["pages"], summary="Live calls")
    async def calls(request: Request, s: Annotated[Session, Depends(require("calls"))]) -> str:
        rows = await _ctx(request).repo.live_calls(s.username)
        body = '<div data-live></div>' + table(["Line", "Caller", "Direction", "Since"], [_call_rows(rows)],
                                               "calls-body")
        return page("Live calls", body, s, "/calls")

    @app.get("/calls/table", response_class=H, tags=["pages"], summary="Live calls table (for live refresh)")
    async def calls_table(request: Request, s: Annotated[Session, Depends(require("calls"))]) -> str:
        return _call_rows(await _ctx(request).repo.live_calls(s.username))

    @app.get("/escalations", response_class=H, tags=["pages"], summary="Escalation queue")
    async def escalations(request: Request, s: Annotated[Session, Depends(require("escalations.view"))],
                          msg: str = "") -> str:
        rows = await _ctx(request).repo.escalations(s.username, include_resolved=True)
        body = ('<div data-live></div><p id="live-banner" class="msg" role="status" hidden></p>'
                + table(["Severity", "Concern", "Patient", "Raised", "Respond by", "Status", ""],
                        [_esc_rows([r for r in rows if r["status"] != "resolved"], s)], "esc-body")
                + resolved_table(rows))
        return page("Escalations", body, s, "/escalations", message=msg[:200])

    @app.get("/escalations/table", response_class=H, tags=["pages"], summary="Escalation rows (for live refresh)")
    async def escalations_table(request: Request, s: Annotated[Session, Depends(require("escalations.view"))]) -> str:
        return _esc_rows(await _ctx(request).repo.escalations(s.username), s)

    @app.post("/escalations/{eid}/acknowledge", tags=["pages"], summary="Acknowledge (form)")
    async def ack_form(request: Request, eid: RecordId, s: Annotated[Session, Depends(check_csrf)]) -> Response:
        if not allowed(s.role, "escalations.acknowledge"):
            raise Forbidden()
        try:
            await _ctx(request).repo.acknowledge(eid, s.username)
        except ConflictError as exc:
            return RedirectResponse(f"/escalations?msg={exc.message}", status_code=303)
        return RedirectResponse("/escalations", status_code=303)

    @app.post("/escalations/{eid}/resolve", tags=["pages"], summary="Resolve with a note (form)")
    async def resolve_form(request: Request, eid: RecordId, note: Annotated[str, Form(min_length=1, max_length=4000)],
                           s: Annotated[Session, Depends(check_csrf)]) -> Response:
        if not allowed(s.role, "escalations.resolve"):
            raise Forbidden()
        try:
            ctx = _ctx(request)
            await ctx.repo.resolve(eid, s.username, note, ctx.follow_up)
        except ConflictError as exc:
            return RedirectResponse(f"/escalations?msg={exc.message}", status_code=303)
        return RedirectResponse("/escalations", status_code=303)

    @app.get("/summaries", response_class=H, tags=["pages"], summary="Call summaries")
    async def summaries(request: Request, s: Annotated[Session, Depends(require("summaries.view"))]) -> str:
        rows = await _ctx(request).repo.summaries(s.username)
        body = '<div data-live></div>' + table(["", "Patient", "Procedure", "Status", "Corrections", "Created"],
                                               [_sum_rows(rows)], "sum-body")
        return page("Call summaries", body, s, "/summaries")

    @app.get("/summaries/table", response_class=H, tags=["pages"], summary="Summary rows (for live refresh)")
    async def summaries_table(request: Request, s: Annotated[Session, Depends(require("summaries.view"))]) -> str:
        return _sum_rows(await _ctx(request).repo.summaries(s.username))

    @app.get("/summaries/{sid}", response_class=H, tags=["pages"], summary="One summary: review, correct, finalise")
    async def summary(request: Request, sid: RecordId, s: Annotated[Session, Depends(require("summaries.view"))]) -> str:
        r = await _ctx(request).repo.summary(sid, s.username)
        documentation = checklist_html(await checklist_of(request, sid, s.username), sid, s)
        text = r["final_text"] if r["final_text"] is not None else r["ai_text"]
        turns = "".join(f'<p class="turn-{e(t.get("speaker"))}"><b>{e(t.get("speaker"))}:</b> {e(t.get("text"))}</p>'
                        for t in r["transcript"] if isinstance(t, dict))
        if r["status"] == "final":
            editor = f"<pre>{e(text)}</pre><p>Final; reviewed by {e(r['reviewed_by'])}.</p>"
        else:
            editor = (f'<form method="post" action="/summaries/{sid}">{csrf_field(s)}<textarea name="text" id="summary-text" '
                      f'maxlength="20000" aria-label="Summary">{e(text)}</textarea><p><button name="action" value="save">'
                      f'Save correction</button> <button name="action" value="finalize">Approve as final</button></p></form>')
        body = (f'<p>{e(r["patient_label"])} · {e(r["procedure"])} · {when(r["created_at"])} · status <b id="summary-status">'
                f'{e(r["status"])}</b> · corrections <b id="summary-corrections">{r["corrections"]}</b></p>'
                f'<h2>Summary (AI draft, review before it is final)</h2>{editor}{documentation}'
                f'<h2>Transcript</h2>{turns or "<p>None.</p>"}')
        return page(f"Summary #{sid}", body, s, "/summaries")

    @app.post("/summaries/{sid}", tags=["pages"], summary="Save a correction or approve (form)")
    async def summary_form(request: Request, sid: RecordId, text: Annotated[str, Form(min_length=1, max_length=20000)],
                           s: Annotated[Session, Depends(check_csrf)], action: Annotated[str, Form()] = "save") -> Response:
        if not allowed(s.role, "summaries.correct"):
            raise Forbidden()
        try:
            await _ctx(request).repo.review_summary(sid, s.username, text, finalize=action == "finalize")
        except ConflictError:
            pass
        return RedirectResponse(f"/summaries/{sid}", status_code=303)

    @app.get("/appointments", response_class=H, tags=["pages"], summary="Appointments: the past 2 days to 7 days ahead")
    async def appointments(request: Request, s: Annotated[Session, Depends(require("appointments"))],
                           msg: str = "") -> str:
        ctx = _ctx(request)
        now, tz = ctx.clock(), ZoneInfo(ctx.time_zone)
        since, until, _today_end = window(now, tz)
        rows = await ctx.repo.appointment_days(s.username, since, until)
        return page("Appointments", appointments_body(rows, s, now, tz), s, "/appointments", message=msg[:200])

    @app.post("/appointments/{aid}/mark", tags=["pages"], summary="Mark a patient arrived or a no-show (form)")
    async def mark_form(request: Request, aid: RecordId, status: Annotated[Literal["completed", "no-show"], Form()],
                        s: Annotated[Session, Depends(check_csrf)]) -> Response:
        if not allowed(s.role, "appointments"):
            raise Forbidden()
        try:
            ctx = _ctx(request)
            await ctx.repo.mark_appointment(aid, status, s.username, ctx.no_show_deposit)
        except ConflictError as exc:
            return RedirectResponse(f"/appointments?msg={quote(exc.message)}", status_code=303)
        return RedirectResponse(f"/appointments#appt-{aid}", status_code=303)

    @app.get("/aftercare", response_class=H, tags=["pages"], summary="Aftercare pipeline")
    async def aftercare(request: Request, s: Annotated[Session, Depends(require("aftercare"))]) -> str:
        rows = await _ctx(request).repo.aftercare(s.username)
        yes = ("no", "yes")
        trs = [f'<tr><td>{e(r["patient_label"])}</td><td>{e(r["procedure"])}</td><td>{when(r["treated_at"])}</td>'
               f'<td>{e(r["stage"])}</td><td>{yes[bool(r["instructions_delivered"])]}</td>'
               f'<td>{yes[bool(r["patient_responded"])]}</td><td>{r["series_done"]}/{r["series_total"]}</td>'
               f'<td>{when(r["next_contact_at"])}</td></tr>' for r in rows]
        return page("Aftercare pipeline", table(["Patient", "Procedure", "Treated", "Stage", "Instructions", "Responded",
                                                 "Series", "Next contact"], trs), s, "/aftercare")

    @app.get("/dashboard", response_class=H, tags=["pages"], summary="Workflow-quality dashboard (aggregates)")
    async def dashboard(request: Request, s: Annotated[Session, Depends(require("dashboard"))]) -> str:
        ctx = _ctx(request)
        m = await ctx.repo.metrics(ctx.clock(), actor=s.username)
        rates = await ctx.repo.appointment_rates(s.username, ctx.clock())
        cards = metric_cards(m)
        counts = ", ".join(f"{e(k)}: {v}" for k, v in m["counts"].items())
        export = ('<p>Export for the practice-management system: <a href="/api/export.csv">CSV</a> · '
                  '<a href="/api/export.fhir.json">FHIR JSON bundle</a></p>') if allowed(s.role, "export") else ""
        outcomes = (f'<h2>Appointments</h2><p>Last {OUTCOME_DAYS} days, by start time ({rates["total"]} appointments).'
                    f'</p><div class="cards" id="appointment-outcomes">{outcome_cards(appointment_cards(rates))}</div>')
        return page("Workflow quality", f"<p>Last {m['window_weeks']} weeks ({counts}); one bar per week; each "
                    "measure also per procedure family, with what it counts.</p>"
                    f'<div class="cards">{cards}</div>{outcomes}{export}', s, "/dashboard")

    register_checklist(app)  # the summary's documentation checklist: its sign-off form

    @app.get("/users", response_class=H, tags=["pages"], summary="Staff accounts (administrators)")
    async def users(request: Request, s: Annotated[Session, Depends(require("users"))]) -> str:
        rows = await _ctx(request).repo.users()
        trs = [f'<tr><td>{e(r["username"])}</td><td>{e(r["display_name"])}</td><td>{e(ROLE_NAMES.get(r["role"], r["role"]))}'
               f'</td><td>{e(r["extension"])}</td></tr>' for r in rows]
        return page("Staff accounts", table(["User", "Name", "Role", "Extension"], trs)
                    + "<p>Add accounts with <code>appliance staff add-user</code>.</p>", s, "/users")
