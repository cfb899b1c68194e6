"""Console authentication: argon2 password hashes, sessions with idle log-off, CSRF tokens,
and log-in rate limiting. Pure of I/O; the clock is passed in so tests can move it.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from appliance.records.users import ROLES as STORE_ROLES

# The record store's staff roles (appliance.records.users.ROLES).
Role = Literal["clinician", "front-desk", "admin"]
ROLES: tuple[Role, ...] = ("clinician", "front-desk", "admin")
if ROLES != STORE_ROLES:  # one set of role names for the whole appliance
    raise RuntimeError("console roles differ from the record store's")
ROLE_NAMES = {"clinician": "Injector / NP", "front-desk": "Front desk", "admin": "Administrator"}

# What each role may do. Admins manage the box, not patients: they see aggregates only.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "calls": frozenset({"clinician", "front-desk"}),
    "escalations.view": frozenset({"clinician", "front-desk"}),
    "escalations.acknowledge": frozenset({"clinician", "front-desk"}),
    "escalations.resolve": frozenset({"clinician"}),
    "summaries.view": frozenset({"clinician"}),
    "summaries.correct": frozenset({"clinician"}),
    "appointments": frozenset({"clinician", "front-desk"}),
    "aftercare": frozenset({"clinician", "front-desk"}),
    "dashboard": frozenset({"clinician", "front-desk", "admin"}),
    "export": frozenset({"clinician", "admin"}),
    "users": frozenset({"admin"}),
    "testcall": frozenset({"clinician", "front-desk", "admin"}),  # shadow mode: no patient data
}

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so timing does not reveal user names."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ValueError("a console password needs at least 10 characters")
    return _hasher.hash(password)


def verify_password(pw_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(pw_hash or _dummy_hash(), password) and pw_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, frozenset())


@dataclass
class Session:
    token: str
    username: str
    display_name: str
    role: Role
    csrf: str
    created: float
    last_seen: float


class Sessions:
    """Server-side sessions keyed by an unguessable token; idle for longer than `idle_s` = gone."""

    def __init__(self, idle_s: float, clock: Callable[[], float]) -> None:
        self.idle_s = idle_s
        self.clock = clock
        self._by_token: dict[str, Session] = {}

    def create(self, username: str, display_name: str, role: Role) -> Session:
        now = self.clock()
        s = Session(secrets.token_urlsafe(32), username, display_name, role, secrets.token_urlsafe(32), now, now)
        self._by_token[s.token] = s
        return s

    def get(self, token: str | None, *, touch: bool = True) -> Session | None:
        if not token:
            return None
        s = self._by_token.get(token)
        if s is None:
            return None
        now = self.clock()
        if now - s.last_seen > self.idle_s:
            del self._by_token[token]
            return None
        if touch:
            s.last_seen = now
        return s

    def end(self, token: str | None) -> Session | None:
        return self._by_token.pop(token, None) if token else None

    def sweep(self) -> list[Session]:
        now = self.clock()
        gone = [s for s in self._by_token.values() if now - s.last_seen > self.idle_s]
        for s in gone:
            del self._by_token[s.token]
        return gone


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


@dataclass
class _Failures:
    n: int = 0
    last: float = 0.0


@dataclass
class RateLimiter:
    """Sign-in throttling per client address and per user name, with exponential back-off.

    `begin` counts an attempt *before* the (slow) password check, as a failure until
    `succeeded` says otherwise, so concurrent attempts cannot all slip through one check.
    After `limit` failures within `window_s` a key waits `base_s`, then twice as long after each
    further failure (capped at `max_s`) after its latest attempt. An address with failures is
    refused (429) while it waits; a user name's back-off refuses only addresses that have
    failed themselves: from an address with no failures, the right password still gets in after
    at most `clean_delay_max_s` (a stranger's guesses cannot lock the NP out)."""

    limit: int = 5
    window_s: float = 900.0
    base_s: float = 1.0
    max_s: float = 900.0
    clean_delay_max_s: float = 1.0
    clock: Callable[[], float] = field(default=lambda: 0.0)
    _fails: dict[str, _Failures] = field(default_factory=dict)

    def _get(self, key: str) -> _Failures | None:
        f = self._fails.get(key)
        if f is not None and self.clock() - f.last > self.window_s:
            del self._fails[key]
            return None
        return f

    def _wait(self, key: str) -> float:
        f = self._get(key)
        if f is None or f.n < self.limit:
            return 0.0
        return max(0.0, f.last + min(self.base_s * (1 << (f.n - self.limit)), self.max_s) - self.clock())

    def _add(self, key: str) -> None:
        f = self._get(key) or self._fails.setdefault(key, _Failures())
        f.n += 1
        f.last = self.clock()
        if len(self._fails) > 10_000:  # bounded memory under a flood of made-up user names
            self._fails.pop(next(iter(self._fails)))

    def retry_after(self, *keys: str) -> float:
        """0 when no key is backing off, else seconds until all may try again."""
        return max((self._wait(k) for k in keys), default=0.0)

    def begin(self, user_key: str, ip_key: str) -> tuple[float, float]:
        """(refuse_s, delay_s). refuse_s > 0: refuse now, retry after that many seconds (not
        counted). Else the attempt is counted; wait delay_s, then check the password."""
        ip_wait = self._wait(ip_key)
        if ip_wait > 0:
            return ip_wait, 0.0
        user_wait = self._wait(user_key)
        clean = self._get(ip_key) is None
        if user_wait > 0 and not clean:
            return user_wait, 0.0
        self._add(ip_key)
        self._add(user_key)
        return 0.0, min(user_wait, self.clean_delay_max_s)

    def failed(self, *keys: str) -> None:
        """Count a failure that did not go through `begin`."""
        for key in keys:
            self._add(key)

    def succeeded(self, user_key: str, ip_key: str | None = None) -> None:
        """The password was right: the user's failures are forgotten and the address's
        provisional count for this attempt is taken back."""
        self._fails.pop(user_key, None)
        f = self._get(ip_key) if ip_key else None
        if f is not None:
            f.n -= 1
            if f.n <= 0:
                self._fails.pop(ip_key or "", None)


NAV_ORDER = (("/escalations", "escalations.view"), ("/calls", "calls"), ("/summaries", "summaries.view"),
             ("/dashboard", "dashboard"))
