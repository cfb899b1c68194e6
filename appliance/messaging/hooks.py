"""Signed callbacks from third parties, served by the console's HTTPS server.

  POST /hooks/sms        the SMS gateway's inbound replies: STOP (and the carriers' other stop
                         words) opts the number out of texts; START lifts it
  POST /hooks/payments   the payment provider's notice that a deposit was paid

No session: each request is authenticated by its HMAC-SHA256 signature (the configured
`signature_header`, "sha256=HEX" over "TIMESTAMP." + body, with the callback secret) and
must be fresh (the timestamp within five minutes). A signature seen before is refused
(replay). A route whose integration is not configured answers 404. Nothing a patient wrote is
logged or kept: only the keyword's effect.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from appliance.logs import get_logger
from appliance.messaging import store
from appliance.messaging.compose import reply_keyword
from appliance.messaging.https import check_callback, read_secret
from appliance.records.audit import Access
from appliance.records.base import iso_ts
from appliance.records.db import transaction
from appliance.records.service import AsyncRecords
from appliance.records.store import Records

log = get_logger(__name__)
ACCESS = Access("system:callback", "signed-callback")
KEEP_SEEN_S = 86400


def _fields(body: bytes, content_type: str) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        data = json.loads(body or b"{}")
        return data if isinstance(data, dict) else {}
    return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}


class Verifier:
    def __init__(self, secret: bytes, ts_header: str, sig_header: str) -> None:
        self.secret, self.ts_header, self.sig_header = secret, ts_header, sig_header

    async def check(self, request: Request, records: AsyncRecords, what: str) -> tuple[bytes | None, Response | None]:
        body = await request.body()
        signature = request.headers.get(self.sig_header)
        now = time.time()
        why = check_callback(self.secret, request.headers.get(self.ts_header), signature, body, now)
        if why is None:
            digest = hashlib.sha256((signature or "").encode()).hexdigest()
            if not await records.run(lambda r: store.callback_fresh(r, digest, iso_ts(now - KEEP_SEEN_S))):
                why = "replayed"
        if why is not None:
            log.warning("messaging.callback_refused", callback=what, reason=why)
            return None, JSONResponse({"detail": why}, status_code=409 if why == "replayed" else 401)
        return body, None


def _paid(r: Records, reference: str) -> str:
    with transaction(r.conn):
        did = store.deposit_by_reference(r, reference)
        if did is None:
            return "unknown"
        moved = store.move_deposit_in(r, ACCESS, did, "paid", "provider")
        r.conn.execute("UPDATE staff_tasks SET status = 'done', done_at = ?, done_by = 'provider' "
                       "WHERE deposit_id = ? AND status = 'open'", (iso_ts(time.time()), did))
    return "paid" if moved else "unchanged"


async def _signed_fields(verifier: Verifier, request: Request, records: AsyncRecords, name: str) -> dict[str, Any] | Response:
    """The callback's fields once its signature checks out; else the response that refuses it."""
    body, refused = await verifier.check(request, records, name)
    if refused is not None or body is None:
        return refused or Response(status_code=400)
    try:
        return _fields(body, request.headers.get("content-type", ""))
    except ValueError:
        return JSONResponse({"detail": "unreadable"}, status_code=400)


def register_hooks(app: FastAPI, settings: Any, records: AsyncRecords) -> None:
    gw = settings.messages.gateway if settings.messages.sms == "gateway" else None
    pay = settings.payments.https if settings.payments.provider == "https" else None
    sms = (Verifier(read_secret(gw.callback_secret, "SMS gateway callback secret"), gw.timestamp_header,
                    gw.signature_header) if gw is not None and gw.callback_secret else None)
    payments = (Verifier(read_secret(pay.callback_secret, "payment callback secret"), pay.timestamp_header,
                         pay.signature_header) if pay is not None and pay.callback_secret else None)

    @app.post("/hooks/sms", tags=["callbacks"], summary="SMS gateway replies (HMAC-signed)")
    async def sms_reply(request: Request) -> Response:
        if sms is None or gw is None:
            return JSONResponse({"detail": "not configured"}, status_code=404)
        data = await _signed_fields(sms, request, records, "sms")
        if isinstance(data, Response):
            return data
        sender, text = str(data.get(gw.inbound_from_field) or ""), str(data.get(gw.inbound_text_field) or "")
        keyword = reply_keyword(text)
        changed = False
        if keyword is not None and sender:
            changed = await records.run(lambda r: store.set_opt_out(r, ACCESS, "sms", sender, keyword == "stop"))
        log.info("messaging.sms_reply", keyword=keyword or "none", changed=changed)
        return JSONResponse({"ok": True, "keyword": keyword})

    @app.post("/hooks/payments", tags=["callbacks"], summary="Payment provider notices (HMAC-signed)")
    async def payment_notice(request: Request) -> Response:
        if payments is None:
            return JSONResponse({"detail": "not configured"}, status_code=404)
        data = await _signed_fields(payments, request, records, "payments")
        if isinstance(data, Response):
            return data
        reference, status = str(data.get("reference") or ""), str(data.get("status") or "")
        if status != "paid" or not reference:
            return JSONResponse({"ok": True, "result": "ignored"})
        result = await records.run(lambda r: _paid(r, reference))
        log.info("messaging.deposit_paid", result=result)
        return JSONResponse({"ok": result != "unknown", "result": result}, status_code=200 if result != "unknown" else 404)
