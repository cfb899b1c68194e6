"""LAN webhooks: each outbox message POSTed as JSON over HTTPS (TLS 1.2 or later), signed with
HMAC-SHA256, sent with a client certificate (mutual TLS), or both.

Headers: `Idempotency-Key` (the outbox message id: receivers de-duplicate by it),
`X-Appliance-Topic`, `X-Appliance-Timestamp` (Unix seconds), and, when the endpoint has a shared
secret, `X-Appliance-Signature: sha256=HEX` over "TIMESTAMP." + body with that secret.
A 2xx answer (or 409, already seen) counts as delivered; anything else, including a receiver
that refuses the TLS handshake, is retried. The client certificate is loaded and checked when
the sink is built (at start-up), so a bad one stops the start rather than every delivery."""

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
from appliance.logs import get_logger
from appliance.records.outbox import OutboxMessage

log = get_logger(__name__)


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


def client_context(name: str, *, ca_file: Path | None = None, client_cert: Path | None = None,
                   client_key: Path | None = None) -> ssl.SSLContext:
    """The TLS context of one endpoint: TLS 1.2 or later, the receiver checked against the system
    CAs or `ca_file`, and the client certificate chain loaded when mutual TLS is configured."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert is None and client_key is None:
        return ctx
    if client_cert is None or client_key is None:
        raise ConfigError(f"webhook {name}: client_cert_file and client_key_file must be given together",
                          fix="set both (mutual TLS), or neither")
    from appliance.setup.tls import TlsError, inspect

    pems = []
    for path in (client_cert, client_key):
        try:
            pems.append(path.read_bytes())
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the client certificate or key of webhook {name}: {e.strerror}",
                              fix="check the path and that the service user may read it") from e
    try:
        info = inspect(pems[0], pems[1], str(client_cert))  # names a foreign or passphrase-protected key
    except TlsError as e:
        raise ConfigError(f"webhook {name}: {e.message} (key: {client_key})", fix=e.fix) from e
    try:
        # No passphrase prompt: a protected key was refused above, and b"" never blocks a start-up.
        ctx.load_cert_chain(client_cert, client_key, password=b"")
    except ssl.SSLError as e:
        raise ConfigError(f"{client_cert}: webhook {name}: the client certificate chain does not load: {e.reason or e}",
                          fix="give the PEM certificate (then any intermediates) and its unencrypted PEM key") from e
    if info.expires_within():
        log.warning("webhook.client_cert_expiring", endpoint=name, cert=str(client_cert),
                    not_after=info.not_after.isoformat())
    return ctx


class WebhookSink:
    def __init__(self, name: str, url: str, secret: bytes | None, *, ca_file: Path | None = None,
                 client_cert: Path | None = None, client_key: Path | None = None, topics: tuple[str, ...] = (),
                 timeout_s: float = 10.0) -> None:
        if not url.startswith("https://"):
            raise ConfigError(f"webhook {name}: {url} is not an https:// address", fix="use HTTPS for LAN endpoints")
        if secret is None and client_cert is None:
            raise ConfigError(f"webhook {name}: neither a shared secret nor a client certificate",
                              fix="set secret_file (HMAC signing), or client_cert_file and client_key_file "
                                  "(mutual TLS), or both")
        self.name = name
        self.url = url
        self.secret = secret
        self.topics = topics
        self.timeout_s = timeout_s
        self._ssl = client_context(name, ca_file=ca_file, client_cert=client_cert, client_key=client_key)

    def _post(self, msg: OutboxMessage) -> int:
        body = json.dumps({"id": msg.msg_id, "topic": msg.topic, "created_at": msg.created_at, "data": msg.payload},
                          separators=(",", ":")).encode()
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "Idempotency-Key": msg.msg_id, "X-Appliance-Topic": msg.topic,
                   "X-Appliance-Timestamp": ts}
        if self.secret is not None:
            headers["X-Appliance-Signature"] = sign(self.secret, ts, body)
        req = urllib.request.Request(self.url, data=body, method="POST", headers=headers)  # noqa: S310  (https only)
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
