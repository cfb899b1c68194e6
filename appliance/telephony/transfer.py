"""Call transfer: blind (REFER) and attended (consult the target, brief it, REFER with Replaces).

When the caller's phone refuses REFER (or, attended, the REFER fails while both calls are up),
the appliance bridges the two calls' media itself. On any other failure the original call stays
up and the result says why; the caller is never dropped.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import TYPE_CHECKING, Literal

from appliance.calls import TransferResult
from appliance.logs import get_logger, hostile
from appliance.telephony.bridge import bridge

if TYPE_CHECKING:
    from appliance.telephony.call import SipCall
    from appliance.telephony.outbound import OutboundCall

Kind = Literal["blind", "attended"]

log = get_logger(__name__)
REFER_TIMEOUT_S = 30.0


async def _refer(call: SipCall, refer_to: str, timeout_s: float = REFER_TIMEOUT_S) -> tuple[bool, str, bool]:
    """Send REFER; wait for a final NOTIFY sipfrag. (ok, detail, refused: the REFER itself failed)."""
    while not call.notify_frags.empty():
        call.notify_frags.get_nowait()
    resp = await call.signalling.send_in_dialog(
        call, "REFER", headers=(("Refer-To", refer_to), ("Referred-By", call.signalling.contact)))
    if resp is None:
        return False, "REFER timed out", True
    if (resp.status or 0) >= 300:
        return False, f"REFER {resp.status}", True
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                status = await call.notify_frags.get()
                if status >= 200:
                    return status < 300, f"target {status}", False
    except TimeoutError:
        return False, "no final NOTIFY", False


def _done(call: SipCall, result: TransferResult) -> TransferResult:
    log.info("call.transfer", kind=result.kind, ok=result.ok, detail=hostile(result.detail),
             call_id=hostile(call.dialog.call_id))
    return result


async def blind_transfer(call: SipCall, target: str, timeout_s: float = REFER_TIMEOUT_S) -> TransferResult:
    if call.state != "confirmed":
        return TransferResult(False, "blind", target, "call not up")
    ok, detail, refused = await _refer(call, f"<{call.signalling.target_uri(target)}>", timeout_s)
    if ok:
        await call.release("transfer")
        return _done(call, TransferResult(True, "blind", target, detail))
    if not refused or call.state != "confirmed":
        return _done(call, TransferResult(False, "blind", target, detail))
    other = await call.signalling.place_call(target, timeout_s=timeout_s)  # the phone can't transfer: bridge
    if other.outcome != "answered" or other.call is None:
        return _done(call, TransferResult(False, "blind", target, f"{detail}; {_outcome(other)}"))
    return await _bridge(call, other.call, "blind", target, detail)


async def attended_transfer(call: SipCall, target: str, brief_pcm: bytes | None,
                            timeout_s: float = REFER_TIMEOUT_S) -> TransferResult:
    if call.state != "confirmed":
        return TransferResult(False, "attended", target, "call not up")
    await call.set_hold(True)
    consult = await call.signalling.place_call(target, timeout_s=timeout_s)
    if consult.outcome != "answered" or consult.call is None:
        await call.set_hold(False)
        return _done(call, TransferResult(False, "attended", target, _outcome(consult)))
    other = consult.call
    if brief_pcm:
        other.send_audio(brief_pcm)
        for _ in range(int(len(brief_pcm) / 16) // 20 + 250):  # bounded: brief length + 5 s
            if other.pending_audio_ms() == 0 or other.state == "ended":
                break
            await asyncio.sleep(0.02)
    d = other.dialog
    replaces = urllib.parse.quote(f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag}", safe="")
    ok, detail, _ = await _refer(call, f"<{d.remote_target}?Replaces={replaces}>", timeout_s)
    if ok:
        await call.release("transfer")
        await other.release("transfer")
        return _done(call, TransferResult(True, "attended", target, detail))
    if call.state == "confirmed" and other.state == "confirmed":
        await call.set_hold(False)
        return await _bridge(call, other, "attended", target, detail)
    await other.release("transfer-failed")
    if call.state == "confirmed":
        await call.set_hold(False)
    return _done(call, TransferResult(False, "attended", target, detail))


async def _bridge(call: SipCall, other: SipCall, kind: Kind, target: str, detail: str) -> TransferResult:
    bridge(call, other)
    return _done(call, TransferResult(True, kind, target, f"bridged ({detail})"))


def _outcome(o: OutboundCall) -> str:
    return f"{o.outcome} ({o.status})" if o.status else o.outcome
