"""Callers the SIP edge turns away: told to whoever calls them back (the front desk's runner).

`SipEdge` answers a call over `max_calls` with 486 Busy Here; `turned_away` logs it (the
number only as a keyed tag) and hands the caller's number, as received (hostile), to
`on_busy`, a plain callback that must not block (the desk runner schedules its store write).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.logs import get_logger, phone
from appliance.telephony.sipmsg import NameAddr, SipMessage

if TYPE_CHECKING:
    from appliance.config import SipSettings

log = get_logger(__name__)


class MissedCalls:
    on_busy: Callable[[str], None] | None = None
    settings: SipSettings

    def turned_away(self, msg: SipMessage) -> None:
        caller = NameAddr.parse(msg.get("From") or "")
        number = (caller.sip_uri.user or "") if caller and caller.sip_uri else ""
        log.info("call.busy", max_calls=getattr(self.settings, "max_calls", None), caller=phone(number))
        if self.on_busy is not None and number:
            try:
                self.on_busy(number)
            except Exception:  # noqa: BLE001 - the 486 is sent; a failed note never stops the edge
                log.exception("call.busy_note_failed")
