"""The console's review-completion routes (front desk and clinicians; a session and its CSRF token).

  POST /api/reviews/{plan_id}/completed   JSON: the review of an aftercare plan was left (staff, or
                                          the clinic's review system signed in as a staff user)
  POST /reviews/{plan_id}/completed       the same from the Messages page's **Review left** button

Both mark the plan's `review_done` (the dashboard's review completion) through
`appliance.messaging.reviews.mark_review_done`: audited with the user as actor, and a
`review.completed` outbox message when it is newly recorded.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from appliance.messaging.reviews import mark_review_done
from appliance.records.audit import Access
from appliance.records.service import AsyncRecords
from appliance.staff.api import RecordId
from appliance.staff.auth import Session, allowed
from appliance.staff.web import Forbidden, check_csrf


def register_reviews(app: FastAPI, records: AsyncRecords) -> None:
    async def _mark(s: Session, plan_id: int) -> bool:
        if not allowed(s.role, "aftercare"):
            raise Forbidden()
        who = Access(f"staff:{s.username}", "console:reviews")
        return bool(await records.run(lambda r: mark_review_done(r, who, plan_id, f"staff:{s.username}")))

    @app.post("/api/reviews/{plan_id}/completed", tags=["api"],
              summary="The patient's review for this aftercare plan was left (review completion)")
    async def review_completed(request: Request, plan_id: RecordId,
                               s: Annotated[Session, Depends(check_csrf)]) -> dict[str, Any]:
        newly = await _mark(s, plan_id)
        return {"plan_id": plan_id, "review_done": True, "newly_recorded": newly}

    @app.post("/reviews/{plan_id}/completed", tags=["pages"], summary="Review left (Messages page)")
    async def review_completed_form(request: Request, plan_id: RecordId,
                                    s: Annotated[Session, Depends(check_csrf)]) -> Response:
        await _mark(s, plan_id)
        return RedirectResponse("/messages?msg=Review recorded as left.", status_code=303)
