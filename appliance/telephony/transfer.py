"""Call transfer: blind (REFER) and attended (consult the target, brief it, REFER with Replaces).

On any failure the original call stays up and the result says why; the caller is never dropped.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import TYPE_CHECKING

from appliance.calls import TransferResult
from appliance.logs import get_logger, hostile

if TYPE_CHECKING:
    from appliance.telephony.call import SipCall

log = get_logger(__name__)
REFER_TIMEOUT_S = 30.0


async def _refer(call: SipCall, refer_to: str, timeout_s: float = REFER_TIMEOUT_S) -> tuple[bool, str]:
    """Send REFER; wait for a final NOTIFY sipfrag. (ok, detail)."""
    while not call.notify_frags.empty():
        call.notify_frags.get_nowait()
    resp = await call.edge.send_in_dialog(
        call, "REFER", headers=(("Refer-To", refer_to), ("Referred-By", call.edge.contact)))
    if resp is None:
        return False, "REFER timed out"
    if (resp.status or 0) >= 300:
        return False, f"REFER {resp.status}"
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                status = await call.notify_frags.get()
                if status >= 200:
                    return status < 300, f"target {status}"
    except TimeoutError:
        return False, "no final NOTIFY"


async def blind_transfer(call: SipCall, target: str, timeout_s: float = REFER_TIMEOUT_S) -> TransferResult:
    if call.state != "confirmed":
        return TransferResult(False, "blind", target, "call not up")
    ok, detail = await _refer(call, f"<{call.edge.target_uri(target)}>", timeout_s)
    log.info("call.transfer", kind="blind", ok=ok, detail=hostile(detail), call_id=hostile(call.dialog.call_id))
    if ok:
        await call.hangup("transfer")
    return TransferResult(ok, "blind", target, detail)


async def attended_transfer(call: SipCall, target: str, brief_pcm: bytes | None,
                            timeout_s: float = REFER_TIMEOUT_S) -> TransferResult:
    if call.state != "confirmed":
        return TransferResult(False, "attended", target, "call not up")
    await call.set_hold(True)
    consult = await call.edge.place_call(target, timeout_s=timeout_s)
    if consult.outcome != "answered" or consult.call is None:
        await call.set_hold(False)
        detail = f"{consult.outcome} ({consult.status})" if consult.status else consult.outcome
        log.info("call.transfer", kind="attended", ok=False, detail=detail)
        return TransferResult(False, "attended", target, detail)
    other = consult.call
    if brief_pcm:
        other.send_audio(brief_pcm)
        for _ in range(int(len(brief_pcm) / 16) // 20 + 250):  # bounded: brief length + 5 s
            if other.pending_audio_ms() == 0 or other.state == "ended":
                break
            await asyncio.sleep(0.02)
    d = other.dialog
    replaces = urllib.parse.quote(f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag}", safe="")
    ok, detail = await _refer(call, f"<{d.remote_target}?Replaces={replaces}>", timeout_s)
    log.info("call.transfer", kind="attended", ok=ok, detail=hostile(detail), call_id=hostile(call.dialog.call_id))
    if ok:
        await call.hangup("transfer")
        await other.hangup("transfer")
        return TransferResult(True, "attended", target, detail)
    await other.hangup("transfer-failed")
    await call.set_hold(False)
    return TransferResult(False, "attended", target, detail)
