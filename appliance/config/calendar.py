"""[calendar]: the clinic's calendar as the source of truth for availability (CalDAV, RFC 4791).

`backend = "local"` (the default) keeps availability in the appliance alone, as before;
`backend = "caldav"` reads each mapped provider's busy times from the clinic's calendar server
and writes the appointments the appliance books, cancels and moves there. A part of
`appliance.config` (included as `Settings.calendar`), imported by the calendar sync itself.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """An https:// URL; plain http:// only to this machine (a test server or a local proxy)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("give the calendar server's URL, e.g. https://calendar.clinic.lan/dav/")
    if parts.username or parts.password:
        raise ValueError("put no credentials in the URL: use username and password_file")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError("use https:// (plain http:// is accepted only for a server on this machine)")
    return url


class CalendarSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["local", "caldav"] = "local"
    url: str | None = Field(None, validate_default=True)  # the CalDAV server (or its calendar home)
    username: str | None = None
    password_file: Path | None = None  # the password alone, mode 0600
    # Provider id (clinic.yaml) -> that provider's calendar: a URL, or a path relative to `url`.
    providers: dict[str, str] = Field(default_factory=dict, validate_default=True)
    sync_interval_s: float = Field(60.0, ge=0.2, le=3600)  # how often the calendars are read
    timeout_s: float = Field(10.0, gt=0, le=120)  # one request to the server
    backoff_max_s: float = Field(300.0, ge=0.2, le=3600)  # server down: retries back off up to this
    verify_tls: bool = True  # check the server's certificate (against ca_file when given)
    ca_file: Path | None = None  # PEM: the clinic's own certificate authority
    # The written events' SUMMARY names the patient and the procedure (off: a reference only).
    include_patient_details: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            if info.data.get("backend") == "caldav":
                raise PydanticCustomError("missing", 'backend = "caldav" needs the calendar server\'s url')
            return None
        return check_url(v)

    @field_validator("providers")
    @classmethod
    def _providers(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if not v and info.data.get("backend") == "caldav":
            raise PydanticCustomError("missing", 'backend = "caldav" needs providers: provider id -> calendar '
                                      '(e.g. providers = { "np-rivera" = "np-rivera/" })')
        for provider, target in v.items():
            if not target.strip():
                raise ValueError(f"{provider}: give the provider's calendar (a URL or a path under url)")
            if "://" in target:
                check_url(target)
        return v

    @field_validator("password_file")
    @classmethod
    def _needs_user(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is not None and not info.data.get("username"):
            raise ValueError("password_file is set without username: give both, or neither (no login)")
        return v

    @field_validator("ca_file")
    @classmethod
    def _verify(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is not None and info.data.get("verify_tls") is False:
            raise ValueError("ca_file is set while verify_tls = false: remove one of them")
        return v
