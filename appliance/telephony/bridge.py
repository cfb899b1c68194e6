"""The appliance joins two calls' media itself: the fallback when a phone refuses REFER.

Each leg's decoded 20 ms frames are queued on the other leg's paced sender (DTMF events are
re-sent as RFC 4733 events); the pipeline's part of both calls ends (`recv` returns HangUp
"transfer"). When either side hangs up, the appliance BYEs the other.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from appliance.logs import get_logger, hostile

if TYPE_CHECKING:
    from appliance.telephony.call import SipCall

log = get_logger(__name__)


def bridge(a: SipCall, b: SipCall) -> asyncio.Task[object]:
    """Connect `a` and `b` (both confirmed); returns the task that ends both when one ends."""
    for leg, other in ((a, b), (b, a)):
        leg.detach("transfer")
        leg.media.clear_audio()
        leg.media.on_audio = other.media.send_audio
        leg.media.on_dtmf = other.media.queue_dtmf
        leg.bridged_to = other
    log.info("call.bridged", a=hostile(a.dialog.call_id), b=hostile(b.dialog.call_id))
    return a.signalling.spawn(_until_one_ends(a, b))


async def _until_one_ends(a: SipCall, b: SipCall) -> None:
    waits = [asyncio.ensure_future(a.ended.wait()), asyncio.ensure_future(b.ended.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await w
        await a.release("bridge-ended")
        await b.release("bridge-ended")
        log.info("call.bridge_ended", a=hostile(a.dialog.call_id), b=hostile(b.dialog.call_id))
