"""Console authentication: argon2 password hashes, sessions with idle log-off, CSRF tokens,
and log-in rate limiting. Pure of I/O; the clock is passed in so tests can move it.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections import deque
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
class RateLimiter:
    """At most `limit` failed log-ins per key within `window_s`; then refuse until the oldest
    failure leaves the window. Keys are the user name and the client address, checked separately."""

    limit: int = 5
    window_s: float = 900.0
    clock: Callable[[], float] = field(default=lambda: 0.0)
    _fails: dict[str, deque[float]] = field(default_factory=dict)

    def _trim(self, key: str) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        cutoff = self.clock() - self.window_s
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> float:
        """0 when a log-in attempt may proceed, else seconds until it may."""
        wait = 0.0
        for key in keys:
            q = self._trim(key)
            if len(q) >= self.limit:
                wait = max(wait, q[0] + self.window_s - self.clock())
        return wait

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._trim(key).append(self.clock())
            if len(self._fails) > 10_000:  # bounded memory under a flood of made-up user names
                self._fails.pop(next(iter(self._fails)))

    def succeeded(self, username_key: str) -> None:
        self._fails.pop(username_key, None)

NAV_ORDER = (("/escalations", "escalations.view"), ("/calls", "calls"), ("/summaries", "summaries.view"),
             ("/dashboard", "dashboard"))
