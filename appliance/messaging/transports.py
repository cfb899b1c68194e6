"""The channels' adapters: SMS through an HTTPS gateway or through the PBX (SIP MESSAGE over the
appliance's SIP edge), email through the clinic's SMTP relay.

Each `send(out)` hands one message over, or raises `SendError` (retried with back-off unless
permanent). The message's idempotency key goes with it: the gateway's idempotency header, a
`X-Idempotency-Key` header field on the SIP MESSAGE, and the email's Message-ID (and an
`X-Idempotency-Key` field), so receivers can drop a copy re-sent after a crash. Nothing here
logs a recipient or a text.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

from appliance.config.messages import EmailSettings, GatewaySettings, MessagesSettings, PbxSmsSettings
from appliance.messaging.https import SendError, SignedClient, read_secret, tls_context
from appliance.records.phones import normalize_phone


@dataclass(frozen=True)
class Outgoing:
    key: str  # the idempotency key (the outbox message id)
    channel: str  # sms | email
    recipient: str
    subject: str
    body: str


class Transport(Protocol):
    channel: str

    async def send(self, out: Outgoing) -> None: ...


class GatewaySms:
    channel = "sms"

    def __init__(self, cfg: GatewaySettings) -> None:
        self.client = SignedClient(cfg, "SMS gateway")

    async def send(self, out: Outgoing) -> None:
        number = normalize_phone(out.recipient)
        if not number:
            raise SendError("not a phone number", permanent=True)
        await self.client.send({"to": "+" + number, "text": out.body, "key": out.key}, out.key)


class PbxSms:
    """SMS through the PBX's SMS gateway: a SIP MESSAGE to `uri` with the number in it."""

    channel = "sms"

    def __init__(self, cfg: PbxSmsSettings, edge: Any) -> None:
        self.cfg = cfg
        self.edge = edge

    async def send(self, out: Outgoing) -> None:
        from appliance.telephony.message import send_message

        number = normalize_phone(out.recipient)
        if not number or self.edge is None:
            raise SendError("not a phone number" if not number else "no SIP edge in this process",
                            permanent=not number)
        try:
            status = await send_message(self.edge, self.cfg.uri.replace("{number}", number), out.body,
                                        headers={"X-Idempotency-Key": out.key})
        except ValueError as e:
            raise SendError(f"SIP MESSAGE: {e}", permanent=True) from None
        if not 200 <= status < 300:
            raise SendError(f"SIP MESSAGE: {status}", permanent=status in (400, 403, 404, 413, 415, 484, 488, 606))


class SmtpEmail:
    channel = "email"

    def __init__(self, cfg: EmailSettings) -> None:
        self.cfg = cfg
        self.password = read_secret(cfg.password_file, "SMTP password").decode() if cfg.password_file else None
        self.ssl: ssl.SSLContext = tls_context(cfg.ca_file)

    def build(self, out: Outgoing) -> EmailMessage:
        msg = EmailMessage()
        domain = self.cfg.from_address.rsplit("@", 1)[1]
        msg["From"] = self.cfg.from_address
        msg["To"] = out.recipient
        msg["Subject"] = out.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = f"<{out.key}@{domain}>"  # the same on every attempt: receivers drop copies
        msg["X-Idempotency-Key"] = out.key
        msg.set_content(out.body)
        return msg

    def _send(self, out: Outgoing) -> None:
        c = self.cfg
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout_s) as smtp:
                smtp.ehlo()
                if c.starttls:
                    if not smtp.has_extn("starttls"):
                        raise SendError("SMTP relay offers no STARTTLS (required: [messages.smtp] starttls)")
                    smtp.starttls(context=self.ssl)
                    smtp.ehlo()
                if c.username:
                    smtp.login(c.username, self.password or "")
                smtp.send_message(self.build(out))
        except smtplib.SMTPRecipientsRefused:
            raise SendError("SMTP: recipient refused", permanent=True) from None
        except smtplib.SMTPResponseException as e:
            raise SendError(f"SMTP: {e.smtp_code}", permanent=500 <= e.smtp_code < 600 and e.smtp_code != 552) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
            raise SendError(f"SMTP: {type(e).__name__}: {e}"[:200]) from None

    async def send(self, out: Outgoing) -> None:
        await asyncio.to_thread(self._send, out)


def transports(settings: MessagesSettings, edge: Any = None) -> dict[str, Transport]:
    """The configured channels' adapters (secrets read and TLS contexts built now: a bad file
    stops the start with the file's name)."""
    out: dict[str, Transport] = {}
    if settings.sms == "gateway" and settings.gateway is not None:
        out["sms"] = GatewaySms(settings.gateway)
    elif settings.sms == "pbx" and settings.pbx is not None:
        out["sms"] = PbxSms(settings.pbx, edge)
    if settings.email and settings.smtp is not None:
        out["email"] = SmtpEmail(settings.smtp)
    return out
