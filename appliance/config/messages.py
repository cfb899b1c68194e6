"""`[messages]` and `[payments]`: which outbound channels a clinic uses, and how payment links are made.

Nothing leaves the box unless configured here. Every file path is absolute (secrets are files,
mode 0600, never values in the config). Request templates are JSON-like tables whose string
values may hold placeholders (`{to}`, `{text}`, `{key}` for SMS; `{amount}`, `{currency}`,
`{reference}`, `{key}` for payments), filled per request and never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _absolute(v: Path | None) -> Path | None:
    if v is not None and not v.is_absolute():
        raise ValueError("give an absolute path")
    return v


class SignedRequest(_Section):
    """An HTTPS request to a third party: the URL, the method, a body template, and how it is
    authenticated (a bearer token, or an HMAC-SHA256 signature header). TLS is verified against
    the system CAs or `ca_file`; `verify_tls = false` is for a lab only."""

    url: str = Field(pattern=r"^https://")
    method: Literal["POST", "PUT"] = "POST"
    body_format: Literal["json", "form"] = "json"
    body: dict[str, Any] = Field(default_factory=dict)
    auth: Literal["token", "hmac", "none"] = "token"
    token_file: Path | None = None
    token_header: str = "Authorization"  # noqa: S105 (a header name)
    token_prefix: str = "Bearer "  # noqa: S105 (the token's prefix in that header)
    secret_file: Path | None = None  # HMAC-SHA256 over "TIMESTAMP." + body
    callback_secret_file: Path | None = None  # the signed callbacks' secret (default: secret_file)
    signature_header: str = "X-Signature"
    timestamp_header: str = "X-Timestamp"
    idempotency_header: str = "Idempotency-Key"
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout_s: float = Field(10.0, gt=0, le=60)

    @field_validator("token_file", "secret_file", "callback_secret_file", "ca_file")
    @classmethod
    def _abs(cls, v: Path | None) -> Path | None:
        return _absolute(v)

    @model_validator(mode="after")
    def _auth_files(self) -> SignedRequest:
        if self.auth == "token" and self.token_file is None:
            raise ValueError("auth = \"token\" needs token_file (an absolute path to a 0600 file)")
        if self.auth == "hmac" and self.secret_file is None:
            raise ValueError("auth = \"hmac\" needs secret_file (an absolute path to a 0600 file)")
        return self

    @property
    def callback_secret(self) -> Path | None:
        return self.callback_secret_file or self.secret_file


class GatewaySettings(SignedRequest):
    """SMS through an HTTPS gateway. `body` placeholders: {to} (E.164), {text}, {key}.
    Replies and receipts come back to `https://BOX:8443/hooks/sms`, signed with `secret_file`."""

    body: dict[str, Any] = Field(default_factory=lambda: {"to": "{to}", "text": "{text}"})
    inbound_from_field: str = "from"
    inbound_text_field: str = "text"


class PbxSmsSettings(_Section):
    """SMS through the PBX: a SIP MESSAGE to the PBX's SMS gateway; `uri` holds {number}."""

    uri: str = Field(pattern=r"^sips?:.*\{number\}")


class EmailSettings(_Section):
    """Email through the clinic's SMTP relay; STARTTLS is required unless `starttls = false`."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_file: Path | None = None
    from_address: str = Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    ca_file: Path | None = None
    timeout_s: float = Field(15.0, gt=0, le=120)

    @field_validator("password_file", "ca_file")
    @classmethod
    def _abs(cls, v: Path | None) -> Path | None:
        return _absolute(v)


class MessagesSettings(_Section):
    sms: Literal["none", "gateway", "pbx"] = "none"
    email: bool = False
    max_attempts: int = Field(6, ge=1, le=50)  # then the message is a dead letter (console: Messages)
    gateway: GatewaySettings | None = None
    pbx: PbxSmsSettings | None = None
    smtp: EmailSettings | None = None

    @model_validator(mode="after")
    def _configured(self) -> MessagesSettings:
        if self.sms == "gateway" and self.gateway is None:
            raise ValueError("sms = \"gateway\" needs a [messages.gateway] table")
        if self.sms == "pbx" and self.pbx is None:
            raise ValueError("sms = \"pbx\" needs a [messages.pbx] table with uri")
        if self.email and self.smtp is None:
            raise ValueError("email = true needs a [messages.smtp] table")
        return self

    def channels(self) -> tuple[str, ...]:
        return (("sms",) if self.sms != "none" else ()) + (("email",) if self.email else ())


class PaymentApiSettings(SignedRequest):
    """A payment provider's HTTPS API that makes a payment link. `body` placeholders: {amount}
    (in the currency's minor unit), {amount_major}, {currency}, {reference}, {key}. The answer
    is JSON; `link_field` and `reference_field` name (dotted) where the link and the provider's
    id are. Paid notices come back to `https://BOX:8443/hooks/payments`, signed with `secret_file`."""

    body: dict[str, Any] = Field(default_factory=lambda: {"amount": "{amount}", "currency": "{currency}",
                                                          "reference": "{reference}"})
    link_field: str = "url"
    reference_field: str = "id"


class PaymentsSettings(_Section):
    provider: Literal["staff", "https"] = "staff"
    https: PaymentApiSettings | None = None

    @model_validator(mode="after")
    def _configured(self) -> PaymentsSettings:
        if self.provider == "https" and self.https is None:
            raise ValueError("provider = \"https\" needs a [payments.https] table")
        return self
