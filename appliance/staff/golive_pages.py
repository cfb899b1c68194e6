"""The console's go-live page: the pack's status (also the banner on every page), the pilot per
workflow (calls handled and reviewed; an admin turns the next one on), the supervised period
(an admin ends it once its days or calls are done) and the actions held for staff review
(a clinician releases or discards each). The state and its audited changes are
`appliance.golive.control.GoLive`'s; this module holds the pages and who may use them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appliance.golive import store
from appliance.golive.control import GoLive
from appliance.golive.policy import Pilot, Supervision
from appliance.records.audit import Access
from appliance.staff.auth import Session, allowed
from appliance.staff.html import csrf_field, e, page, table
from appliance.staff.web import Forbidden, check_csrf, require


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


def _page_body(o: dict[str, Any], g: GoLive, s: Session) -> str:
    st = g.status
    admin = allowed(s.role, "users")
    problems = "".join(f"<li>{e(p.detail)}<br><small>fix: {e(p.fix)}</small></li>" for p in st.problems)
    pack = (f'<h2>Protocol pack</h2><p id="golive-pack"><b>{e(st.ref or st.path)}</b> · {e(st.approval_line())}</p>'
            + (f'<ul class="msg err">{problems}</ul>' if problems else "<p>Approved for patient calls.</p>"))
    pilot: Pilot = o["pilot"]
    rows = []
    for wf in g.workflows:
        c = o["counts"].get(wf, {"handled": 0, "reviewed": 0})
        live = pilot.workflow_live(wf)
        action = ""
        if not live and admin:
            action = (f'<form method="post" action="/golive/workflows/{e(wf)}/enable">{csrf_field(s)}'
                      f'<button type="submit" id="enable-{e(wf)}">Turn on</button></form>')
        rows.append(f'<tr data-workflow="{e(wf)}"><td>{e(wf)}</td><td>{"live" if live else "not live"}</td>'
                    f'<td>{c["handled"]}</td><td>{c["reviewed"]}</td><td>{action}</td></tr>')
    types = ", ".join(sorted(pilot.call_types))
    intro = ("A staged pilot: calls that need a workflow or call type that is not live become a message for staff."
             if pilot.active else "No pilot: every workflow is live.")
    pilot_html = (f'<h2>Pilot</h2><p>{intro} Live call types: {e(types)}.</p>'
                  + table(["Workflow", "Status", "Calls handled", "Reviewed", ""], rows, "pilot-body"))
    sup: Supervision = o["supervision"]
    if not sup.on:
        sup_html = "<p>No supervised period is configured ([golive] supervised).</p>"
    elif sup.ended_at is not None:
        by = o["state"].get("supervised_ended_by")
        sup_html = f'<p id="supervised">Ended on {e(sup.ended_at.isoformat()[:16])} by {e(by)}.</p>'
    else:
        end = ""
        if admin:
            end = (f'<form method="post" action="/golive/supervised/end">{csrf_field(s)}<button type="submit" '
                   f'id="end-supervised"{"" if o["may_end"] else " disabled"}>End the supervised period</button></form>')
        review = ' <a href="/golive/holds">Review them</a>' if allowed(s.role, "summaries.correct") else ""
        sup_html = (f'<p id="supervised">Running since {e(sup.started_at.isoformat()[:16] if sup.started_at else "")}: '
                    f'every call\'s summary and booking wait for staff review; escalations page at once. '
                    f'<b id="held-count">{o["held"]}</b> action(s) held.{review}</p><p>{e(o["why"])}</p>{end}')
    return pack + pilot_html + "<h2>Supervised period</h2>" + sup_html


def _hold_row(h: dict[str, Any], s: Session) -> str:
    p = h["payload"]
    if h["kind"] == "booking":
        b = p.get("booking") or {}
        what = (f'{b.get("kind", "")} {b.get("treatment") or ""} with {b.get("provider")} at {b.get("start")} '
                f'for {p.get("name") or "?"}')
    elif h["kind"] == "aftercare-call":
        what = f'day-{p.get("day")} {p.get("contact")} call to patient {p.get("patient_ref")}'
    else:
        what = ", ".join(str(t.get("kind")) for t in p.get("tasks", []))
    forms = "".join(f'<form method="post" action="/golive/holds/{e(h["id"])}/{verb}" style="display:inline">'
                    f'{csrf_field(s)}<button type="submit" class="{verb}">{label}</button></form> '
                    for verb, label in (("release", "Approve and release"), ("discard", "Discard")))
    return (f'<tr data-hold="{e(h["id"])}"><td>{e(h["kind"])}</td><td>{e(h["workflow"])}</td><td>{e(what)}</td>'
            f'<td>{e(h["created_at"][:16])}</td><td>{forms}</td></tr>')


def register_golive(app: FastAPI) -> None:
    @app.get("/golive", response_class=HTMLResponse, tags=["pages"], summary="Go-live: pack, pilot, supervised period")
    async def golive(request: Request, s: Annotated[Session, Depends(require("dashboard"))], msg: str = "") -> str:
        g: GoLive = _ctx(request).golive
        return page("Go-live", _page_body(await g.overview(), g, s), s, "/golive", message=msg[:200])

    @app.post("/golive/workflows/{workflow}/enable", tags=["pages"], summary="Turn a pilot workflow on (admin)")
    async def enable(request: Request, workflow: str, s: Annotated[Session, Depends(check_csrf)]) -> Response:
        if not allowed(s.role, "users"):
            raise Forbidden()
        await _ctx(request).golive.enable_workflow(workflow[:64], s.username)
        return RedirectResponse("/golive", status_code=303)

    @app.post("/golive/supervised/end", tags=["pages"], summary="End the supervised period (admin)")
    async def end(request: Request, s: Annotated[Session, Depends(check_csrf)]) -> Response:
        if not allowed(s.role, "users"):
            raise Forbidden()
        ok, why = await _ctx(request).golive.end_supervised(s.username)
        return RedirectResponse("/golive" if ok else "/golive?msg=" + ("Not yet: " + why).replace(" ", "+")[:180],
                                status_code=303)

    @app.get("/golive/holds", response_class=HTMLResponse, tags=["pages"], summary="Actions held for review")
    async def holds(request: Request, s: Annotated[Session, Depends(require("summaries.correct"))]) -> str:
        g: GoLive = _ctx(request).golive
        rows = await g.records.run(lambda r: store.holds(r, Access(f"staff:{s.username}", "supervised review")))
        body = ("<p>In the supervised period each call's booking (with its confirmation and deposit request), "
                "staff tasks and the aftercare and recall calls the appliance is due to place wait here; approving "
                "releases them (a released call is placed at the scheduler's next turn). Review the call's summary under "
                '<a href="/summaries">Summaries</a>.</p>'
                + table(["Kind", "Workflow", "What", "Held since", ""], [_hold_row(h, s) for h in rows], "holds-body"))
        return page("Held for review", body, s, "/golive")

    @app.post("/golive/holds/{hid}/{verb}", tags=["pages"], summary="Release or discard a held action")
    async def decide(request: Request, hid: str, verb: str, s: Annotated[Session, Depends(check_csrf)]) -> Response:
        from appliance.golive.calls import release

        if not allowed(s.role, "summaries.correct") or verb not in ("release", "discard"):
            raise Forbidden()
        g: GoLive = _ctx(request).golive
        who = Access(f"staff:{s.username}", "supervised review")
        if verb == "release":
            await release(g.records, who, hid[:32], s.username)
        else:
            await g.records.run(lambda r: store.claim_hold(r, who, hid[:32], "discarded", s.username))
        return RedirectResponse("/golive/holds", status_code=303)
