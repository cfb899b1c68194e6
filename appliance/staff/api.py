"""The JSON API behind the console (documented at /api/openapi.json for signed-in users).
Every route needs a session; every state-changing route also needs the X-CSRF-Token header."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from appliance.staff.auth import ROLE_NAMES, Session, allowed
from appliance.staff.web import Forbidden, _ctx, check_csrf, current_session, require

RecordId = Annotated[int, Path(ge=1, le=2**62)]


class Me(BaseModel):
    username: str
    display_name: str
    role: str
    role_name: str
    csrf_token: str


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=4000)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20000)
    finalize: bool = False


class FollowUp(BaseModel):
    """The call that follows up on a resolved concern (the pack's outbound.yaml concern_follow_up)."""

    id: int
    state: Literal["due", "dialing", "completed", "failed", "cancelled"]
    call_at: float = Field(description="when the call is (or was last) planned, Unix seconds")
    outcome: str | None = Field(description="better | same | worse | unclear | red-flag (all but better escalated "
                                            "again) | voicemail, hung-up (tried again) | wrong-person, "
                                            "identity-failed, opted-out | expired, attempts-exhausted, "
                                            "no-identity-on-file (not reached)")
    attempts: int
    escalated_again: list[int] = Field(description="escalations raised on the follow-up call")
    done_at: float | None


class Escalation(BaseModel):
    id: int
    call_id: str | None = Field(description="the PBX's Call-ID (data: a PBX may reuse it)")
    call_key: str | None = Field(description="the appliance's own id for the call")
    line: str | None = None
    patient_label: str
    severity: Literal["emergency", "urgent", "routine"]
    category: str
    detail: str = Field(description="the red flag's id in the protocol pack")
    evidence: str = Field("", description="why it was escalated: the matched pack phrase, the matching method and "
                                          "what the caller was heard to say")
    created_at: float
    deadline_at: float
    status: Literal["open", "acknowledged", "resolved"]
    acknowledged_by: str | None
    acknowledged_at: float | None
    resolved_by: str | None
    resolved_at: float | None
    resolution_note: str | None
    paged: str
    follow_up: FollowUp | None = Field(None, description="the follow-up call scheduled when the concern was resolved")


def _acting(session: Session, permission: str) -> Session:
    if not allowed(session.role, permission):
        raise Forbidden()
    return session


def register_api(app: FastAPI) -> None:
    r = APIRouter(prefix="/api", tags=["api"])

    @r.get("/me", response_model=Me, summary="The signed-in user and the CSRF token for changes")
    async def me(s: Annotated[Session, Depends(current_session)]) -> Me:
        return Me(username=s.username, display_name=s.display_name, role=s.role, role_name=ROLE_NAMES[s.role],
                  csrf_token=s.csrf)

    @r.get("/calls", summary="Live calls")
    async def calls(request: Request, s: Annotated[Session, Depends(require("calls"))]) -> list[dict[str, Any]]:
        return await _ctx(request).repo.live_calls(s.username)

    @r.get("/escalations", response_model=list[Escalation], summary="The escalation queue, most pressing first")
    async def escalations(request: Request, s: Annotated[Session, Depends(require("escalations.view"))],
                          include_resolved: bool = False) -> list[dict[str, Any]]:
        return await _ctx(request).repo.escalations(s.username, include_resolved=include_resolved)

    @r.get("/escalations/{eid}", response_model=Escalation, summary="One escalation")
    async def escalation(request: Request, eid: RecordId,
                         s: Annotated[Session, Depends(require("escalations.view"))]) -> dict[str, Any]:
        return await _ctx(request).repo.escalation(eid, s.username)

    @r.post("/escalations/{eid}/acknowledge", response_model=Escalation, summary="Acknowledge an escalation")
    async def acknowledge(request: Request, eid: RecordId, s: Annotated[Session, Depends(check_csrf)]) -> dict[str, Any]:
        _acting(s, "escalations.acknowledge")
        return await _ctx(request).repo.acknowledge(eid, s.username)

    @r.post("/escalations/{eid}/resolve", response_model=Escalation, summary="Resolve an escalation with a note")
    async def resolve(request: Request, eid: RecordId, body: ResolveIn,
                      s: Annotated[Session, Depends(check_csrf)]) -> dict[str, Any]:
        _acting(s, "escalations.resolve")
        ctx = _ctx(request)
        return await ctx.repo.resolve(eid, s.username, body.note, ctx.follow_up)

    @r.get("/summaries", summary="Call summaries, drafts awaiting review first")
    async def summaries(request: Request, s: Annotated[Session, Depends(require("summaries.view"))]) -> list[dict[str, Any]]:
        return await _ctx(request).repo.summaries(s.username)

    @r.get("/summaries/{sid}", summary="One summary with its transcript")
    async def summary(request: Request, sid: RecordId,
                      s: Annotated[Session, Depends(require("summaries.view"))]) -> dict[str, Any]:
        return await _ctx(request).repo.summary(sid, s.username)

    @r.post("/summaries/{sid}/review", summary="Correct and/or finalise an AI summary (a changed text counts as a correction)")
    async def review(request: Request, sid: RecordId, body: ReviewIn,
                     s: Annotated[Session, Depends(check_csrf)]) -> dict[str, Any]:
        _acting(s, "summaries.correct")
        return await _ctx(request).repo.review_summary(sid, s.username, body.text, finalize=body.finalize)

    @r.get("/appointments", summary="Appointments")
    async def appointments(request: Request, s: Annotated[Session, Depends(require("appointments"))]) -> list[dict[str, Any]]:
        return await _ctx(request).repo.appointments(s.username)

    @r.get("/aftercare", summary="The aftercare pipeline")
    async def aftercare(request: Request, s: Annotated[Session, Depends(require("aftercare"))]) -> list[dict[str, Any]]:
        return await _ctx(request).repo.aftercare(s.username)

    @r.get("/metrics", summary="Workflow-quality metrics (aggregates, no PHI)")
    async def metrics(request: Request, s: Annotated[Session, Depends(require("dashboard"))]) -> dict[str, Any]:
        ctx = _ctx(request)
        return await ctx.repo.metrics(ctx.clock(), actor=s.username)

    @r.get("/export.csv", summary="Export for the practice-management system (CSV)", response_class=Response)
    async def export_csv(request: Request, s: Annotated[Session, Depends(require("export"))]) -> Response:
        body = await _ctx(request).exporter.csv(s.username)
        return Response(body, media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="appliance-export.csv"'})

    @r.get("/export.fhir.json", summary="Export for the practice-management system (FHIR-style JSON bundle)",
           response_class=Response)
    async def export_fhir(request: Request, s: Annotated[Session, Depends(require("export"))]) -> Response:
        body = await _ctx(request).exporter.fhir(s.username)
        return Response(body, media_type="application/fhir+json",
                        headers={"Content-Disposition": 'attachment; filename="appliance-export.fhir.json"'})

    app.include_router(r)
