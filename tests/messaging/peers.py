"""Local peers for the messaging tests, on 127.0.0.1 only: an HTTPS SMS gateway and payment
provider (self-signed certificate made by the test; the appliance trusts it through `ca_file`)
that check signatures and tokens and apply each idempotency key once, and an SMTP relay with
STARTTLS (aiosmtpd) that keeps each Message-ID once."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from appliance.messaging.https import sign
from appliance.setup.tls import write_self_signed
from benchmarks.ports import free_port

SECRET = b"gateway-secret-0123456789abcdef"
TOKEN = "provider-token-0123456789"


def certificate(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "peer.crt", tmp / "peer.key"
    if not cert.exists():
        write_self_signed(cert, key, ["127.0.0.1", "localhost"], "test peer")
    return cert, key


def wait_for(cond: Any, timeout: float = 30.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(step)


class HttpsPeer:
    """POST /sms: an SMS gateway (HMAC-SHA256 signature checked); POST /links: a payment
    provider (bearer token checked) that answers the same link for the same idempotency key."""

    def __init__(self, tmp: Path, *, hold_sms_at: int | None = None) -> None:
        self.cert, key = certificate(tmp)
        self.sms: dict[str, dict[str, Any]] = {}  # idempotency key -> the first body applied
        self.sms_requests = 0
        self.duplicates = 0
        self.links: dict[str, str] = {}
        self.refused = 0
        self.hold_sms_at = hold_sms_at
        self.holding, self.release = threading.Event(), threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, data: dict[str, Any] | None = None) -> None:
                body = json.dumps(data or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key", "")
                if self.path == "/links":
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}" or not key:
                        outer.refused += 1
                        return self._answer(401)
                    with outer.lock:
                        ref = outer.links.setdefault(key, f"ref-{len(outer.links) + 1}")
                    return self._answer(201, {"url": f"https://pay.example/{ref}", "id": ref})
                ts = self.headers.get("X-Timestamp", "")
                if sign(SECRET, ts, body) != self.headers.get("X-Signature") or not key:
                    outer.refused += 1
                    return self._answer(401)
                with outer.lock:
                    outer.sms_requests += 1
                    n = outer.sms_requests
                    if key in outer.sms:
                        outer.duplicates += 1
                    else:
                        outer.sms[key] = json.loads(body)
                if outer.hold_sms_at == n:
                    outer.holding.set()  # applied, but the appliance has not heard back yet
                    outer.release.wait(30)
                return self._answer(200, {"id": key})

        self.port = free_port(socket.SOCK_STREAM)
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class SmtpPeer:
    """An SMTP relay that requires STARTTLS and keeps each Message-ID once."""

    def __init__(self, tmp: Path) -> None:
        from aiosmtpd.controller import Controller

        cert, key = certificate(tmp)
        self.mail: dict[str, Any] = {}
        self.received = 0
        self.duplicates = 0
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                msg = message_from_bytes(envelope.content)
                outer.received += 1
                mid = str(msg["Message-ID"])
                if mid in outer.mail:
                    outer.duplicates += 1
                else:
                    outer.mail[mid] = msg
                return "250 OK"

        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        self.port = free_port(socket.SOCK_STREAM)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=tls,
                                     require_starttls=True)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def config(tmp: Path, https: HttpsPeer | None, smtp: SmtpPeer | None, *, provider: bool = True) -> str:
    """The [messages] and [payments] tables for these peers (secrets written 0600 under tmp)."""
    secrets = tmp / "secrets"
    secrets.mkdir(exist_ok=True, mode=0o700)
    (secrets / "gateway.secret").write_bytes(SECRET)
    (secrets / "provider.token").write_text(TOKEN)
    (secrets / "provider.callback").write_text("provider-callback-secret-0123456789")
    for f in secrets.iterdir():
        f.chmod(0o600)
    out = f'[messages]\nsms = "{"gateway" if https else "none"}"\nemail = {"true" if smtp else "false"}\nmax_attempts = 4\n'
    if https:
        out += (f'[messages.gateway]\nurl = "{https.url}/sms"\nauth = "hmac"\nsecret_file = "{secrets / "gateway.secret"}"\n'
                f'ca_file = "{https.cert}"\nbody = {{ to = "{{to}}", text = "{{text}}", ref = "{{key}}" }}\n')
    if smtp:
        out += (f'[messages.smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nfrom_address = "care@clinic.test"\n'
                f'ca_file = "{certificate(tmp)[0]}"\n')
    if https and provider:
        out += (f'[payments]\nprovider = "https"\n[payments.https]\nurl = "{https.url}/links"\n'
                f'token_file = "{secrets / "provider.token"}"\ncallback_secret_file = "{secrets / "provider.callback"}"\n'
                f'ca_file = "{https.cert}"\n')
    return out
