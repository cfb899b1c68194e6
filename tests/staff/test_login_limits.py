"""Hostile sign-ins and bodies against the console (issue 21): over real HTTPS on loopback,
concurrent wrong passwords are counted before the password check, a stranger's guesses do not
lock the NP out, and oversized bodies are refused before authentication."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from appliance.config import Settings
from appliance.staff.app import create_app
from appliance.staff.auth import RateLimiter, Sessions
from appliance.staff.console import Console
from appliance.staff.web import ConsoleContext
from tests.staff.conftest import login


class Frozen:
    """A clock that moves only when told (back-off is measured on it, not on the machine's speed)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def console(tmp_path: Path, repo) -> AsyncIterator[Console]:
    settings = Settings.model_validate({"paths": {"data_dir": str(tmp_path / "var")}})
    c = Console(settings, repo=repo, clock=Frozen(), port=0, relay_webhooks=False)
    await c.start()
    yield c
    await c.stop()


def https(console: Console) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"https://127.0.0.1:{console.port}", verify=False, follow_redirects=False,
                             timeout=60)


async def test_thirty_concurrent_wrong_passwords_are_counted_before_the_check(console) -> None:
    async with https(console) as client:
        form = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)

        async def attempt(i: int) -> int:
            r = await client.post("/login", data={"username": "nina", "password": f"wrong password {i}",
                                                  "csrf_token": token})
            return r.status_code

        codes = await asyncio.gather(*(attempt(i) for i in range(30)))
    assert codes.count(401) <= 5, codes  # at most the free failures reached the password check
    assert codes.count(429) >= 25 and set(codes) <= {401, 429}
    events = await console.repo.records.run(lambda r: r.conn.execute(  # type: ignore[union-attr]
        "SELECT action, count(*) FROM audit_events WHERE action LIKE 'login.%' GROUP BY action").fetchall())
    assert dict(events)["login.refused"] == codes.count(401)


def from_address(app, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 40000)),
                             base_url="https://console.test", follow_redirects=False)


async def test_a_strangers_guesses_do_not_lock_the_np_out(repo) -> None:
    clock = Frozen()
    app = create_app(ConsoleContext(repo=repo, sessions=Sessions(900, clock), limiter=RateLimiter(clock=clock),
                                    clock=clock))
    async with from_address(app, "192.0.2.66") as stranger:
        codes = [(await login(stranger, "nina", f"guess number {i}")).status_code for i in range(8)]
    assert codes[:5] == [401] * 5 and 429 in codes[5:]
    async with from_address(app, "192.0.2.66") as stranger:
        assert (await login(stranger, "nina")).status_code == 429  # the guessing address waits, even when right
    async with from_address(app, "192.0.2.10") as desk:  # the NP's desk: no failures from here
        r = await login(desk, "nina")
        assert r.status_code == 303, r.text
        assert (await desk.get("/api/me")).json()["username"] == "nina"
    async with from_address(app, "192.0.2.66") as stranger:  # the stranger still backs off, longer each time
        assert (await login(stranger, "fred", "another guess")).status_code == 429
    clock.advance(16 * 60)  # failures older than the window are forgotten
    async with from_address(app, "192.0.2.66") as stranger:
        assert (await login(stranger, "fred")).status_code == 303


async def raw_post(console: Console, path: str, headers: str, chunks: int = 0) -> tuple[bytes, int]:
    """A POST over TLS written by hand: the head, then up to `chunks` chunks of 64 KiB (chunked
    encoding) while watching for the answer. Returns the status line and the body bytes sent."""
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", console.port, ssl=tls)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    sent, status = 0, b""
    try:
        await writer.drain()
        for _ in range(chunks):  # bounded: at most chunks x 64 KiB
            piece = b"y" * 65536
            writer.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            await asyncio.wait_for(writer.drain(), 10)
            sent += len(piece)
            try:
                status = await asyncio.wait_for(reader.readline(), 0.05)
            except TimeoutError:
                continue
            break
        if not status:
            status = await asyncio.wait_for(reader.readline(), 10)
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()
    return status, sent


async def test_large_bodies_are_refused_before_authentication(console) -> None:
    status, _ = await raw_post(console, "/api/summaries/1/review",
                               f"Content-Type: application/json\r\nContent-Length: {200 * 1024 * 1024}\r\n")
    assert status.startswith(b"HTTP/1.1 413")  # refused on its declared length, before any byte or session check
    status, _ = await raw_post(console, "/login", f"Content-Type: application/x-www-form-urlencoded\r\n"
                                                  f"Content-Length: {64 * 1024}\r\n")
    assert status.startswith(b"HTTP/1.1 413")
    status, sent = await raw_post(console, "/api/summaries/1/review",
                                  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", chunks=256)
    assert status.startswith(b"HTTP/1.1 413")  # a streamed body is counted as it arrives
    assert sent < 256 * 65536  # refused long before the 16 MiB the client would have sent
    async with https(console) as client:  # the console is still serving
        assert (await client.get("/login")).status_code == 200
        r = await client.post("/api/summaries/1/review", json={"text": "fine"})
        assert r.status_code == 401  # a small body reaches the session check as before
