"""Signed callbacks on the console's HTTPS port: a patient's STOP through the SMS gateway opts the
number out of texts, and the next message to it is not sent (a link already queued is
suppressed at send time, a new one goes to staff); a replayed, stale or unsigned callback is
refused; the payment provider's signed notice marks the deposit paid."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from appliance.config import Settings
from appliance.messaging import store
from appliance.messaging.component import Messaging, open_pack
from appliance.messaging.https import sign
from appliance.records.db import transaction
from appliance.staff.console import Console, endpoints
from tests.messaging.peers import SECRET, HttpsPeer, config
from tests.messaging.seed import SYSTEM, book, row
from tests.staff.conftest import open_test_repo

PHONE = "+1 415 555 0142"


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the console's self-signed certificate
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:  # noqa: S310 (https, loopback)
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def signed(secret: bytes, data: dict[str, Any], ts: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(data).encode()
    stamp = str(ts if ts is not None else int(time.time()))
    return body, {"X-Timestamp": stamp, "X-Signature": sign(secret, stamp, body)}


async def until(cond: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.timeout(90)
async def test_stop_reply_opts_out_and_the_next_message_is_not_sent(tmp_path: Path) -> None:
    https = HttpsPeer(tmp_path)
    raw = tomllib.loads(config(tmp_path, https, None))
    settings = Settings.model_validate({**raw, "paths": {"data_dir": str(tmp_path / "var")}})
    repo = await open_test_repo(tmp_path)
    await repo.set_endpoints(endpoints(settings))
    records = repo.records
    console = Console(settings, repo=repo, port=0)
    messaging = Messaging(settings, records, await open_pack(settings), poll_s=0.05)
    await console.start()
    await messaging.start()
    base = f"https://127.0.0.1:{console.port}"
    try:
        first = await records.run(lambda r: book(r, "call-1", name="Sam Ortiz", phone=PHONE))
        await until(lambda: _sms_count(https, 1))

        body, headers = signed(SECRET, {"from": "+14155550142", "text": " Stop "})
        assert await asyncio.to_thread(_post, f"{base}/hooks/sms", body, headers) == (200, {"ok": True, "keyword": "stop"})
        assert (await asyncio.to_thread(_post, f"{base}/hooks/sms", body, headers))[0] == 409  # replayed
        stale_body, stale = signed(SECRET, {"from": "+14155550142", "text": "START"}, ts=int(time.time()) - 3600)
        assert (await asyncio.to_thread(_post, f"{base}/hooks/sms", stale_body, stale))[0] == 401
        forged = {**headers, "X-Signature": sign(b"not the secret at all!", headers["X-Timestamp"], body)}
        assert (await asyncio.to_thread(_post, f"{base}/hooks/sms", body, forged))[0] == 401
        assert (await asyncio.to_thread(_post, f"{base}/hooks/sms", body, {}))[0] == 401

        # a payment link already queued for the number is checked again at send time: suppressed
        def queue(r: Any) -> int | None:
            with transaction(r.conn):
                pid = row(r, "SELECT patient_id FROM deposits WHERE id = ?", first)[0]
                return store.queue_in(r, SYSTEM, purpose="payment-link", subject_ref="manual-1", channel="sms",
                                      patient_id=pid, recipient=PHONE, subject="", body="test", template="t")
        queued = await records.run(queue)
        await until(lambda: _status(records, queued, "suppressed"))
        # a new booking's link is not queued at all: the front desk gets the task
        second = await records.run(lambda r: book(r, "call-2", name="Sam Ortiz", phone="415-555-0142", days=5))
        await until(lambda: _task_for(records, second))
        assert len(https.sms) == 1 and https.sms_requests == 1

        # the provider's signed notice: the first deposit is paid (a repeat changes nothing)
        secret = (tmp_path / "secrets" / "provider.callback").read_bytes()
        ref = await records.run(lambda r: row(r, "SELECT reference FROM deposits WHERE id = ?", first)[0])
        body, headers = signed(secret, {"reference": ref, "status": "paid"})
        assert await asyncio.to_thread(_post, f"{base}/hooks/payments", body, headers) == (200, {"ok": True,
                                                                                                "result": "paid"})
        # the repeat is signed a second earlier than the first notice (a signature of its own, not a replay)
        body, headers = signed(secret, {"reference": ref, "status": "paid"}, ts=int(headers["X-Timestamp"]) - 1)
        assert (await asyncio.to_thread(_post, f"{base}/hooks/payments", body, headers))[1]["result"] == "unchanged"
        assert await records.run(lambda r: row(r, "SELECT status FROM deposits WHERE id = ?", first)) == ("paid",)
        assert (await asyncio.to_thread(_post, f"{base}/hooks/payments", body, {}))[0] == 401
        assert await records.run(lambda r: r.verify_audit().ok)
    finally:
        await messaging.stop()
        await console.stop()
        await repo.close()
        https.close()


async def _sms_count(https: HttpsPeer, n: int) -> bool:
    return len(https.sms) >= n


async def _status(records: Any, mid: int | None, status: str) -> bool:
    return await records.run(lambda r: row(r, "SELECT status FROM messages WHERE id = ?", mid)) == (status,)


async def _task_for(records: Any, did: int) -> bool:
    found = await records.run(lambda r: row(r, "SELECT detail FROM staff_tasks WHERE deposit_id = ?", did))
    return found is not None and json.loads(found[0])["reason"] == "no-channel"
