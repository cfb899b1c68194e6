"""Walk the console's OpenAPI document: every route refuses a request without a session
(401, 403, or a redirect to the sign-in page), and never answers with data."""

from __future__ import annotations

import re

from tests.staff.conftest import add, client_for, login

PUBLIC = {("get", "/login"), ("post", "/login")}


async def _spec(app) -> dict:
    async with client_for(app) as c:
        await login(c, "nina")
        r = await c.get("/api/openapi.json")
        assert r.status_code == 200
        return r.json()


async def test_openapi_document_itself_needs_a_session(anon):
    assert (await anon.get("/api/openapi.json")).status_code == 401
    assert (await anon.get("/openapi.json")).status_code == 404
    assert (await anon.get("/docs")).status_code == 404


async def test_every_route_refuses_without_a_session(app, repo):
    await add(repo, "escalation", severity="urgent", category="filler", patient_label="Secret Person")
    await add(repo, "summary", ai_text="Secret summary text", transcript=[], patient_label="Secret Person")
    spec = await _spec(app)
    walked = 0
    async with client_for(app) as anon:
        for path, ops in spec["paths"].items():
            for method in ops:
                if (method, path) in PUBLIC:
                    continue
                url = re.sub(r"\{[^}]+\}", "1", path)
                r = await anon.request(method.upper(), url, json={"note": "x", "text": "x"},
                                       data=None, headers={"X-CSRF-Token": "x"})
                walked += 1
                if r.status_code == 303:
                    assert r.headers["location"].startswith("/login"), (method, path)
                else:
                    assert r.status_code in (401, 403), (method, path, r.status_code)
                assert "Secret" not in r.text, (method, path)
    assert walked >= 25  # the document lists the API and the pages


async def test_every_route_refuses_an_expired_session(app, repo, clock):
    spec = await _spec(app)
    async with client_for(app) as c:
        await login(c, "nina")
        clock.advance(16 * 60)
        for path, ops in spec["paths"].items():
            for method in ops:
                if (method, path) in PUBLIC:
                    continue
                r = await c.request(method.upper(), re.sub(r"\{[^}]+\}", "1", path))
                assert r.status_code in (303, 401, 403), (method, path, r.status_code)
