"""The console over its JSON API and pages: sign-in, refusals, CSRF, idle log-off, audit."""

from __future__ import annotations

from appliance.records.store import Records
from tests.staff.conftest import IDLE_S, add, client_for, csrf_of, login


async def _actions(repo) -> list[str]:
    return [e["action"] for e in reversed(await repo.audit_events(10_000))]


async def test_login_and_queue_flow(np_client, repo):
    eid = await add(repo, "escalation", severity="urgent", category="filler-vascular", detail="blanching near lip",
                                    patient_label="Pat Q.", response_minutes=15)
    page = await np_client.get("/escalations")
    assert page.status_code == 200 and "filler-vascular" in page.text and "Pat Q." in page.text
    items = (await np_client.get("/api/escalations")).json()
    assert [i["id"] for i in items] == [eid]
    assert items[0]["deadline_at"] - items[0]["created_at"] == 15 * 60
    token = await csrf_of(np_client)
    r = await np_client.post(f"/api/escalations/{eid}/acknowledge", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged" and r.json()["acknowledged_by"] == "nina"
    again = await np_client.post(f"/api/escalations/{eid}/acknowledge", headers={"X-CSRF-Token": token})
    assert again.status_code == 409
    r = await np_client.post(f"/api/escalations/{eid}/resolve", json={"note": "seen in clinic"},
                             headers={"X-CSRF-Token": token})
    assert r.json()["status"] == "resolved" and r.json()["resolution_note"] == "seen in clinic"
    actions = await _actions(repo)
    assert {"login", "view.escalations", "escalation.acknowledge", "escalation.resolve"} <= set(actions)
    assert (await repo.records.run(Records.verify_audit)).ok


async def test_change_without_csrf_token_is_refused(np_client, repo):
    eid = await add(repo, "escalation", severity="routine", category="question")
    r = await np_client.post(f"/api/escalations/{eid}/acknowledge")
    assert r.status_code == 403
    r = await np_client.post(f"/api/escalations/{eid}/acknowledge", headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = await np_client.post(f"/escalations/{eid}/acknowledge", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert (await repo.escalation(eid, None))["status"] == "open"


async def test_wrong_password_refused_and_rate_limited(anon, repo):
    for _ in range(5):
        r = await login(anon, "nina", "not the password")
        assert r.status_code == 401 and "Wrong user name or password" in r.text
        assert "__Host-console" not in r.cookies
    r = await login(anon, "nina")  # the right password, but too many failures just now
    assert r.status_code == 429 and "Retry-After" in r.headers
    r = await login(anon, "nobody", "whatever-at-all")
    assert r.status_code == 429  # same client address
    refused = (await _actions(repo)).count("login.refused")
    assert refused == 5


async def test_rate_limit_lifts_after_the_window(app, clock):
    async with client_for(app) as c:
        for _ in range(5):
            await login(c, "fred", "wrong password here")
        assert (await login(c, "fred")).status_code == 429
        clock.advance(901)
        assert (await login(c, "fred")).status_code == 303


async def test_idle_session_expires(np_client, clock):
    assert (await np_client.get("/api/me")).status_code == 200
    clock.advance(IDLE_S - 5)
    assert (await np_client.get("/api/me")).status_code == 200  # activity resets the idle timer
    clock.advance(IDLE_S - 5)
    assert (await np_client.get("/api/me")).status_code == 200
    clock.advance(IDLE_S + 1)
    r = await np_client.get("/api/me")
    assert r.status_code == 401 and r.json()["detail"] == "session expired"
    page = await np_client.get("/escalations")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_session_cookie_flags(app):
    async with client_for(app) as c:
        r = await login(c, "nina")
        cookie = r.headers["set-cookie"]
        assert "__Host-console=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower() and "Path=/" in cookie


async def test_roles(app, repo):
    sid = await add(repo, "summary", ai_text="Patient reports mild swelling.", transcript=[{"speaker": "caller", "text": "hi"}])
    async with client_for(app) as desk, client_for(app) as admin:
        await login(desk, "fred")
        await login(admin, "ada")
        assert (await desk.get("/api/escalations")).status_code == 200
        assert (await desk.get(f"/api/summaries/{sid}")).status_code == 403
        assert (await admin.get("/api/escalations")).status_code == 403
        assert (await admin.get("/api/metrics")).status_code == 200
        assert (await admin.get("/users")).status_code == 200
        assert (await desk.get("/users")).status_code == 403


async def test_summary_correction_counted(np_client, repo):
    sid = await add(repo, "summary", ai_text="Bruising at left cheek, day 3.", procedure="filler",
                                 transcript=[{"speaker": "caller", "text": "I have a bruise"}])
    token = await csrf_of(np_client)
    r = await np_client.post(f"/api/summaries/{sid}/review", json={"text": "Bruising at right cheek, day 3."},
                             headers={"X-CSRF-Token": token})
    assert r.json()["corrections"] == 1 and r.json()["status"] == "draft"
    r = await np_client.post(f"/api/summaries/{sid}/review", json={"text": "Bruising at right cheek, day 3.",
                                                                   "finalize": True}, headers={"X-CSRF-Token": token})
    assert r.json()["corrections"] == 1 and r.json()["status"] == "final"
    page = await np_client.get(f"/summaries/{sid}")
    assert "I have a bruise" in page.text and "right cheek" in page.text
    metrics = (await np_client.get("/api/metrics")).json()
    rate = next(m for m in metrics["metrics"] if m["key"] == "staff_correction_rate")
    assert rate["value"] == 1.0


async def test_pages_escape_caller_text(np_client, repo):
    await add(repo, "escalation", severity="routine", category="q", patient_label="<script>alert(1)</script>")
    page = await np_client.get("/escalations")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_logout_ends_session(np_client):
    token = await csrf_of(np_client)
    r = await np_client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303
    assert (await np_client.get("/api/me")).status_code == 401


async def test_login_form_needs_its_token(anon):
    r = await anon.post("/login", data={"username": "nina", "password": "correct horse battery", "csrf_token": "x"})
    assert r.status_code == 403
    await login(anon, "nina")  # the fixture's helper uses the real form token
    assert (await anon.get("/api/me")).status_code == 200


async def test_dashboard_aftercare_and_appointments_render(np_client, repo, clock):
    now = clock()
    await add(repo, "call", call_id="c1", patient_ref="P-1", patient_label="Pat Q.", line="2")
    await add(repo, "call", call_id="c2", patient_ref="P-1", line="3")
    await add(repo, "escalation", severity="urgent", category="filler", call_id="c1")
    await add(repo, "aftercare", patient_ref="P-1", patient_label="Pat Q.", procedure="filler", treated_at=now - 86400,
                             instructions_delivered=1, patient_responded=1, series_total=3, series_done=1, rebooked=1,
                             satisfaction=4, review_due_at=now - 60, review_done=1)
    await add(repo, "appointment", procedure="filler review", starts_at=now + 86400, kind="review", patient_label="Pat Q.")
    m = {x["key"]: x["value"] for x in (await np_client.get("/api/metrics")).json()["metrics"]}
    assert m["escalation_rate"] == 0.5 and m["repeat_contacts"] == 1.0 and m["instruction_delivery"] == 1.0
    # review completion counts review requests made (none here; see test_reviews.py)
    assert m["series_completion"] == 0.0 and m["satisfaction"] == 4 and m["review_completion"] is None
    page = await np_client.get("/dashboard")
    assert page.status_code == 200 and page.text.count("<svg") == 10 and "50%" in page.text
    assert "Pat Q." in (await np_client.get("/aftercare")).text
    assert "filler review" in (await np_client.get("/appointments")).text
    assert "2" in (await np_client.get("/calls/table")).text
