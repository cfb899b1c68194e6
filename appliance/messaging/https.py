"""Signed HTTPS requests to third parties (an SMS gateway, a payment provider), and the check of
their signed callbacks.

A request is built from the configured template: every string in `body` is filled with the
request's values (`{to}`, `{text}`, `{key}`, ...), then sent as JSON or a form, with the
idempotency key header, and either a bearer token or `X-Signature: sha256=HEX` (HMAC-SHA256
over "TIMESTAMP." + body, the timestamp in `X-Timestamp`). TLS is verified (system CAs or
`ca_file`, TLS 1.2 or later). The blocking call runs on a worker thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.config.messages import SignedRequest
from appliance.errors import ConfigError

CALLBACK_WINDOW_S = 300  # a signed callback older (or newer) than this is refused
MAX_ANSWER_BYTES = 64 * 1024


class SendError(Exception):
    """A failed attempt (retried with back-off unless `permanent`)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def read_secret(path: Path, what: str) -> bytes:
    try:
        value = path.read_bytes().strip()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e.strerror}",
                          fix="create it (mode 0600, readable by the service user)") from e
    if not value:
        raise ConfigError(f"{path}: the {what} is empty", fix="write the secret into the file")
    return value


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def check_callback(secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str | None:
    """Why a callback is refused (None: signed with `secret`, and fresh)."""
    if not timestamp or not signature:
        return "unsigned"
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        return "bad timestamp"
    if age > CALLBACK_WINDOW_S:
        return "stale"
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        return "bad signature"
    return None


def fill(template: Any, values: dict[str, str]) -> Any:
    """`template` with every string's {placeholders} filled (unknown ones left empty)."""
    if isinstance(template, str):
        class _F(dict):  # type: ignore[type-arg]
            def __missing__(self, k: str) -> str:
                return ""
        return template.format_map(_F(values))
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


def tls_context(ca_file: Path | None, verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


class SignedClient:
    """One configured third-party endpoint; the secrets and the TLS context are loaded at start."""

    def __init__(self, cfg: SignedRequest, what: str) -> None:
        self.cfg = cfg
        self.what = what
        self.token = read_secret(cfg.token_file, f"{what} token").decode() if cfg.auth == "token" and cfg.token_file else None
        self.secret = read_secret(cfg.secret_file, f"{what} secret") if cfg.auth == "hmac" and cfg.secret_file else None
        self.ssl = tls_context(cfg.ca_file, cfg.verify_tls)

    def _request(self, values: dict[str, str], key: str) -> Answer:
        payload = fill(self.cfg.body, values)
        if self.cfg.body_format == "json":
            body, ctype = json.dumps(payload, separators=(",", ":")).encode(), "application/json"
        else:
            body, ctype = urllib.parse.urlencode(payload).encode(), "application/x-www-form-urlencoded"
        headers = {"Content-Type": ctype, self.cfg.idempotency_header: key, "User-Agent": "clinic-appliance"}
        if self.token is not None:
            headers[self.cfg.token_header] = self.cfg.token_prefix + self.token
        if self.secret is not None:
            ts = str(int(time.time()))
            headers[self.cfg.timestamp_header] = ts
            headers[self.cfg.signature_header] = sign(self.secret, ts, body)
        url = fill(self.cfg.url, {k: urllib.parse.quote(v) for k, v in values.items()})
        req = urllib.request.Request(url, data=body, method=self.cfg.method, headers=headers)  # noqa: S310 (https only)
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout_s, context=self.ssl) as resp:  # noqa: S310 (https)
                return Answer(int(resp.status), resp.read(MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as e:
            return Answer(int(e.code), e.read(MAX_ANSWER_BYTES) if e.fp else b"")
        except (urllib.error.URLError, OSError, ssl.SSLError) as e:
            reason = getattr(e, "reason", e)
            raise SendError(f"{self.what}: {type(reason).__name__}: {reason}"[:200]) from None

    async def send(self, values: dict[str, str], key: str) -> Answer:
        """POST the filled template; a 2xx (or 409: the key was seen) is an answer, anything else
        raises SendError (4xx other than 408/429: permanent)."""
        answer = await asyncio.to_thread(self._request, values, key)
        if 200 <= answer.status < 300 or answer.status == 409:
            return answer
        permanent = 400 <= answer.status < 500 and answer.status not in (408, 425, 429)
        raise SendError(f"{self.what}: HTTP {answer.status}", permanent=permanent)
