"""Callers the SIP edge turns away: told to whoever calls them back (the front desk's runner).

`SipEdge` answers a call over `max_calls` with 486 Busy Here and calls `turned_away`: it logs
the call (the number only as a keyed tag) and hands the caller's number, as received (hostile),
to `on_busy`, a plain callback that must not block (the desk runner schedules its store write).
"""

from __future__ import annotations

from collections.abc import Callable

from appliance.logs import get_logger, phone
from appliance.telephony.sipmsg import NameAddr, SipMessage

log = get_logger(__name__)
BusyNote = Callable[[str], None]


def turned_away(msg: SipMessage, max_calls: int, on_busy: BusyNote | None) -> None:
    """`msg`, an INVITE answered 486: log it, and note the caller to `on_busy` (never raises)."""
    caller = NameAddr.parse(msg.get("From") or "")
    number = (caller.sip_uri.user or "") if caller and caller.sip_uri else ""
    log.info("call.busy", max_calls=max_calls, caller=phone(number))
    if on_busy is not None and number:
        try:
            on_busy(number)
        except Exception:  # noqa: BLE001 - the 486 is sent; a failed note never stops the edge
            log.exception("call.busy_note_failed")
