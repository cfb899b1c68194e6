"""Property-based tests of the JSON API from its own OpenAPI document (schemathesis): with a
valid session and CSRF token, no generated request makes the server fail or break its schema."""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from appliance.staff.app import create_app
from appliance.staff.auth import RateLimiter, Sessions, hash_password
from appliance.staff.events import EventBus
from appliance.staff.web import COOKIE, ConsoleContext
from tests.staff.conftest import add, open_test_repo


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("props")
    repo = asyncio.run(open_test_repo(d))

    async def seed() -> None:
        await repo.add_user(username="nina", display_name="Nina", role="clinician", pw_hash=hash_password("x" * 12),
                            extension=None, actor="system:test")
        for i in range(3):
            await add(repo, "escalation", severity=("emergency", "urgent", "routine")[i], category="filler")
            await add(repo, "summary", ai_text=f"draft {i}", transcript=[{"speaker": "caller", "text": "hello"}])
    asyncio.run(seed())
    ctx = ConsoleContext(repo=repo, sessions=Sessions(3600, __import__("time").time), limiter=RateLimiter(), bus=EventBus())
    app = create_app(ctx)
    session = ctx.sessions.create("nina", "Nina", "clinician")
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    yield schema, session
    asyncio.run(repo.close())


def test_api_survives_generated_requests(served):
    schema, session = served
    headers = {"Cookie": f"{COOKIE}={session.token}", "X-CSRF-Token": session.csrf}
    ops = [op.ok() for op in schema.get_all_operations()]
    ops = [op for op in ops if op.path.startswith("/api/") and op.path != "/api/events"]
    assert len(ops) >= 12
    calls: list[int] = []
    for op in ops:
        strategy = op.as_strategy()

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:
            response = case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])
            calls.append(response.status_code)

        given(strategy)(run)()
    assert len(calls) >= 5 * len(ops)
    assert 200 in calls and 404 in calls  # existing records served, made-up ids refused
