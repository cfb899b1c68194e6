"""Calendar sync's start-up checks against the clinic pack and the files the config names:
an error names the config file, the line, the key and the fix (like every config error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.errors import ConfigError
from appliance.logs import get_logger

log = get_logger(__name__)


def _where(settings: Any, loc: tuple[str, ...]) -> tuple[str, str]:
    from appliance.config import locate_key

    source = str(settings.source)
    line = None
    path = Path(source)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        line = locate_key(text, loc) or locate_key(text, loc[:-1])
    return source, f" (line {line})" if line else ""


def _error(settings: Any, loc: tuple[str, ...], problem: str, fix: str) -> ConfigError:
    source, where = _where(settings, loc)
    return ConfigError(f"{source}: invalid configuration\n  {'.'.join(loc)}{where}: {problem}\n    fix: {fix}")


def check(settings: Any, pack: Any, *, warn: bool = True) -> dict[str, str]:
    """The provider -> calendar mapping, checked against the pack's providers; the files exist.
    `warn`: log the pack's providers that have no calendar (once, at start)."""
    cal = settings.calendar
    known = [p.id for p in pack.clinic.providers]
    for provider in cal.providers:
        if provider not in known:
            raise _error(settings, ("calendar", "providers", provider),
                         f"no provider {provider!r} in the clinic pack (its providers: {', '.join(known)})",
                         "use a provider id from the pack's clinic.yaml, or remove the line")
    for key in ("password_file", "ca_file"):
        path = getattr(cal, key)
        if path is not None and not path.is_file():
            raise _error(settings, ("calendar", key), f"{path} does not exist or is not a file",
                         f"create it (mode 0600{', the password alone' if key == 'password_file' else ', PEM'}) "
                         f"or correct `{key}`")
    unmapped = [p for p in known if p not in cal.providers]
    if unmapped and warn:
        log.warning("calendar.providers_unmapped", providers=",".join(unmapped),
                    note="their availability and bookings stay on the appliance only")
    return dict(cal.providers)


def password(settings: Any) -> str | None:
    from appliance.calsync.client import read_password

    try:
        return read_password(settings.calendar.password_file)
    except OSError as e:
        raise _error(settings, ("calendar", "password_file"), f"cannot read it ({e.strerror})",
                     "make it readable by the appliance's user (mode 0600, owned by it)") from None
