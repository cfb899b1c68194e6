"""Staff console fixtures: the real SQLCipher record store, a movable clock, users of each role,
and an HTTPS-scheme client over the ASGI app (cookies are Secure, so the scheme matters)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from appliance.records.keys import ensure_key
from appliance.records.service import AsyncRecords
from appliance.staff.app import create_app
from appliance.staff.auth import RateLimiter, Sessions, hash_password
from appliance.staff.events import EventBus
from appliance.staff.repo import StaffRepo
from appliance.staff.web import ConsoleContext
from tests.staff import seed

PASSWORD = "correct horse battery"
IDLE_S = 15 * 60


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def open_test_repo(folder: Path, clock: Clock | None = None) -> StaffRepo:
    records = AsyncRecords(folder / "appliance.db", ensure_key(folder / "secrets" / "db.key"))
    await records.open()
    repo = StaffRepo(records, clock=clock or time.time)
    await repo.set_endpoints(["console"])
    return repo


async def add(repo: StaffRepo, what: str, **fields):  # noqa: ANN201 (what the seed function returns)
    """Write test data through the record store (see tests/staff/seed.py), on its writer thread."""
    return await repo.records.run(lambda r: getattr(seed, what)(r, **fields))


@pytest.fixture
async def repo(tmp_path: Path, clock: Clock) -> AsyncIterator[StaffRepo]:
    r = await open_test_repo(tmp_path, clock)
    pw = hash_password(PASSWORD)
    for name, role in (("nina", "clinician"), ("fred", "front-desk"), ("ada", "admin")):
        await r.add_user(username=name, display_name=name.title(), role=role, pw_hash=pw, extension=None,
                         actor="system:test")
    yield r
    await r.close()


@pytest.fixture
def ctx(repo: StaffRepo, clock: Clock) -> ConsoleContext:
    return ConsoleContext(repo=repo, sessions=Sessions(IDLE_S, clock), limiter=RateLimiter(clock=clock),
                          bus=EventBus(), clock=clock)


@pytest.fixture
def app(ctx: ConsoleContext):
    return create_app(ctx)


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console.test",
                             follow_redirects=False)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return await client.post("/login", data={"username": username, "password": password, "csrf_token": token})


async def csrf_of(client: httpx.AsyncClient) -> str:
    return (await client.get("/api/me")).json()["csrf_token"]


@pytest.fixture
async def anon(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


@pytest.fixture
async def np_client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        r = await login(c, "nina")
        assert r.status_code == 303, r.text
        yield c


@pytest.fixture
async def console(tmp_path: Path, repo: StaffRepo, clock: Clock) -> AsyncIterator[object]:
    """The console on HTTPS (self-signed) on a free loopback port, over the test store (a module
    may define its own `console`)."""
    from appliance.config import Settings
    from appliance.staff.console import Console

    c = Console(Settings.model_validate({"paths": {"data_dir": str(tmp_path / "var")}}), repo=repo, clock=clock, port=0)
    await c.start()
    yield c
    await c.stop()


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[object]:
    """A headless Chromium page with its own profile (tests.browser)."""
    from tests.browser import chromium_page

    async with chromium_page(tmp_path / "chromium-profile") as pg:
        yield pg
