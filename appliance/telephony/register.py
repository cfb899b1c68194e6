"""Registration mode: REGISTER with digest, refresh before expiry, back off and retry on failure.

A PBX restart loses the binding; the next refresh (or the retry after a failed one)
registers again. `schedule()` is the pure part: when to try next. It registers through a
`Registrar` (the edge's `OutboundCalls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Protocol

from appliance.logs import get_logger
from appliance.telephony.sipmsg import NameAddr, SipMessage
from appliance.telephony.transport import new_tag

if TYPE_CHECKING:
    from appliance.config import SipSettings
    from appliance.telephony.transport import Addr

log = get_logger(__name__)
MIN_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


class Registrar(Protocol):
    """What a registration needs of the edge: its addresses and a request with digest retry."""

    @property
    def settings(self) -> SipSettings: ...

    @property
    def host(self) -> str: ...

    @property
    def contact(self) -> str: ...

    def proxy(self) -> Addr | None: ...

    def domain(self) -> str: ...

    def via(self) -> str: ...

    async def request(self, req: SipMessage, addr: Addr, wait_s: float = 8.0) -> SipMessage | None: ...


def schedule(*, ok: bool, granted_s: int | None, failures: int) -> float:
    """Seconds until the next REGISTER: refresh at 80 % of the granted expiry (at least 5 s
    early) after success; exponential back-off 1, 2, 4 ... 60 s after failures."""
    if ok and granted_s:
        return max(1.0, min(granted_s * 0.8, granted_s - 5.0))
    # capped: the back-off is 60 s long before 2**16, and 2**1024 no longer converts to a float
    step: int = 2 ** min(16, max(0, failures - 1))  # int ** int is typed Any (a negative power is a float)
    return min(MAX_BACKOFF_S, MIN_BACKOFF_S * step)


def granted_expiry(resp: SipMessage, contact_uri: str, asked: int) -> int:
    for c in resp.get_all("Contact"):
        na = NameAddr.parse(c)
        if na and na.uri == contact_uri and na.params.get("expires", "").isdigit():
            return int(na.params["expires"])
    expires = resp.get("Expires")
    return int(expires) if expires and expires.isdigit() else asked


class Registration:
    def __init__(self, edge: Registrar) -> None:
        self.edge = edge
        self.call_id = f"{secrets.token_hex(12)}@{edge.host}"
        self.tag = new_tag()
        self.cseq = 0
        self.registered = asyncio.Event()
        self.failures = 0
        self.count = 0  # successful REGISTERs
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.registered.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.register_once(expires=0), timeout=0.6)

    async def _loop(self) -> None:
        while True:
            try:
                granted = await self.register_once(self.edge.settings.register_expires)
            except Exception:  # noqa: BLE001
                log.exception("sip.register_error")
                granted = None
            ok = granted is not None
            self.failures = 0 if ok else self.failures + 1
            if ok:
                self.count += 1
                self.registered.set()
            else:
                self.registered.clear()
            delay = schedule(ok=ok, granted_s=granted, failures=self.failures)
            log.info("sip.registered" if ok else "sip.register_failed", expires=granted, retry_s=round(delay, 1))
            await asyncio.sleep(delay)

    async def register_once(self, expires: int) -> int | None:
        edge = self.edge
        proxy = edge.proxy()
        if proxy is None:
            return None
        user = edge.settings.username or ""
        aor = f"<sip:{user}@{edge.domain()}>"
        contact_uri = edge.contact.strip("<>")
        self.cseq += 1
        req = SipMessage(method="REGISTER", uri=f"sip:{edge.domain()}")
        req.add("Via", edge.via())
        req.add("Max-Forwards", "70")
        req.add("From", f"{aor};tag={self.tag}")
        req.add("To", aor)
        req.add("Call-ID", self.call_id)
        req.add("CSeq", f"{self.cseq} REGISTER")
        req.add("Contact", f"<{contact_uri}>")
        req.add("Expires", str(expires))
        req.add("User-Agent", "clinic-appliance")
        resp = await edge.request(req, proxy, wait_s=5.0)
        self.cseq = max(self.cseq, req.cseq[0])
        if resp is None or (resp.status or 0) // 100 != 2:
            return None
        return granted_expiry(resp, contact_uri, expires)
