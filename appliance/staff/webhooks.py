"""LAN webhooks: each outbox message POSTed as JSON over HTTPS, signed with HMAC-SHA256.

Headers: `Idempotency-Key` (the outbox message id: receivers de-duplicate by it),
`X-Appliance-Topic`, `X-Appliance-Timestamp` (Unix seconds), and
`X-Appliance-Signature: sha256=HEX` over "TIMESTAMP." + body with the endpoint's shared secret.
A 2xx answer (or 409, already seen) counts as delivered; anything else is retried."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from appliance.errors import ConfigError
from appliance.records.outbox import OutboxMessage


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def read_secret(path: Path) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the webhook secret: {e.strerror}",
                          fix="create it (e.g. `openssl rand -hex 32 > FILE; chmod 600 FILE`)") from e
    if len(secret) < 16:
        raise ConfigError(f"{path}: the webhook secret is shorter than 16 characters", fix="use at least 32 random bytes")
    return secret


class WebhookSink:
    def __init__(self, name: str, url: str, secret: bytes, *, ca_file: Path | None = None,
                 topics: tuple[str, ...] = (), timeout_s: float = 10.0) -> None:
        if not url.startswith("https://"):
            raise ConfigError(f"webhook {name}: {url} is not an https:// address", fix="use HTTPS for LAN endpoints")
        self.name = name
        self.url = url
        self.secret = secret
        self.topics = topics
        self.timeout_s = timeout_s
        self._ssl = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def _post(self, msg: OutboxMessage) -> int:
        body = json.dumps({"id": msg.msg_id, "topic": msg.topic, "created_at": msg.created_at, "data": msg.payload},
                          separators=(",", ":")).encode()
        ts = str(int(time.time()))
        req = urllib.request.Request(self.url, data=body, method="POST", headers={  # noqa: S310  (https only, checked above)
            "Content-Type": "application/json", "Idempotency-Key": msg.msg_id, "X-Appliance-Topic": msg.topic,
            "X-Appliance-Timestamp": ts, "X-Appliance-Signature": sign(self.secret, ts, body)})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s, context=self._ssl) as resp:  # noqa: S310
                return int(resp.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    async def deliver(self, msg: OutboxMessage) -> None:
        if self.topics and not msg.topic.startswith(self.topics):
            return  # not for this endpoint: counts as delivered
        status = await asyncio.to_thread(self._post, msg)
        if not (200 <= status < 300 or status == 409):
            raise RuntimeError(f"HTTP {status}")
