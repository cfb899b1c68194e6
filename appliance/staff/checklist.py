"""The documentation checklist on a call's summary page, and its sign-off.

The call's workflow (the summary's procedure: a workflow id, or a treatment id of the menu) gives
`documentation.required` and `note`; `appliance.records.checklist` fills what the call can fill
(instructions heard, the concern, escalations and their response times) and leaves the rest to
staff ("to document"). A clinician signs the checklist off with a form carrying the session's
CSRF token (`POST /summaries/{sid}/documentation`); the store records who and when. Reading the
facts and the sign-off are audit events (`documentation.read`, `documentation.sign_off`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from appliance.records.checklist import checklist
from appliance.records.errors import ConflictError
from appliance.staff.api import RecordId
from appliance.staff.auth import Session, allowed
from appliance.staff.html import csrf_field, e
from appliance.staff.repo import access
from appliance.staff.web import Forbidden, _ctx, check_csrf


def requirement_of(pack: Any, procedure: str | None) -> dict[str, Any] | None:
    """The workflow's documentation requirement and its instruction lines, or None when the call
    names no workflow of the pack."""
    if pack is None or not procedure:
        return None
    wf = pack.workflows.get(procedure) or pack.workflow_of(procedure)
    if wf is None:
        return None
    own = [x.id for c in wf.check_ins for x in c.lines if not isinstance(x, str)]
    return {"workflow": wf.id, "family": wf.family, "required": list(wf.documentation.required),
            "note": wf.documentation.note, "instructions": [x.id for x in wf.immediate_instructions] + own}


async def checklist_of(request: Request, sid: int, actor: str) -> dict[str, Any] | None:
    """The call's checklist (items, note, sign-off), or None when it has no workflow."""
    facts = await _ctx(request).repo.records.invoke(lambda r: r.documentation.documentation_facts,
                                                    access(actor, "console:documentation"), sid)
    req = requirement_of(_ctx(request).pack, facts["procedure"])
    if req is None:
        return None
    return {"workflow": req["workflow"], "note": req["note"], "signoff": facts["signoff"],
            "items": checklist(req, facts, facts["escalations"])}


def checklist_html(c: dict[str, Any] | None, sid: int, s: Session) -> str:
    if c is None:
        return '<h2>Documentation</h2><p id="documentation">This call names no workflow of the protocol pack.</p>'
    rows = "".join(
        f'<tr data-item="{e(x["item"])}" data-source="{x["source"]}" data-filled="{int(x["filled"])}">'
        f'<th scope="row">{e(x["item"])}</th><td>{"from the call" if x["source"] == "call" else "staff"}</td>'
        f'<td class="value">{e(x["value"])}</td></tr>' for x in c["items"])
    done = c["signoff"]
    if done is not None:
        foot = (f'<p id="documentation-signoff">Signed off by <b>{e(done["signed_by"])}</b> at '
                f'{e(str(done["signed_at"])[:16].replace("T", " "))} UTC.</p>')
    elif allowed(s.role, "summaries.correct"):
        foot = (f'<form method="post" action="/summaries/{sid}/documentation">{csrf_field(s)}'
                '<button type="submit" id="documentation-sign">Sign off: the items to document are in the chart'
                '</button></form>')
    else:
        foot = '<p id="documentation-signoff">Not signed off yet.</p>'
    note = f'<p class="note">{e(c["note"])}</p>' if c["note"] else ""
    return (f'<h2>Documentation ({e(c["workflow"])})</h2><table id="documentation"><thead><tr><th>Required</th>'
            f'<th>Filled by</th><th>Entry</th></tr></thead><tbody>{rows}</tbody></table>{note}{foot}')


def register_checklist(app: FastAPI) -> None:
    @app.post("/summaries/{sid}/documentation", tags=["pages"], summary="Sign off a call's documentation checklist (form)")
    async def sign_off(request: Request, sid: RecordId, s: Annotated[Session, Depends(check_csrf)]) -> Response:
        if not allowed(s.role, "summaries.correct"):
            raise Forbidden()
        c = await checklist_of(request, sid, s.username)
        try:
            await _ctx(request).repo.records.invoke(lambda r: r.documentation.sign_off_documentation,
                                                    access(s.username, "console:documentation"), sid, s.username,
                                                    c["workflow"] if c else None)
        except ConflictError:
            pass  # signed off already (another tab): the page shows by whom
        return RedirectResponse(f"/summaries/{sid}#documentation", status_code=303)

