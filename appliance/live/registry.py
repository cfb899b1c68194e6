"""The calls in progress, by the appliance's own call key: what the pager needs to connect a patient.

The call runner and the outbound call handlers register every answered call here (`open`) and
remove it when the call ends (`close`). Entries are keyed by the call's key (`calls.call_key`
in the record store, `appliance.records.ids.new_call_key`), never by the PBX's Call-ID: a PBX
may reuse a Call-ID, or two calls may arrive with the same one, and each must keep its own
entry, line and page. Each entry has a line number (the lowest free, "1" upward: what staff
hear as "patient on line 2" and see in the console), the call's own media (the pager bridges
it), and the state of the conversation's own warm transfer: planned (the reply that raised the
escalation asks for it), under way, then its result. The pager lets that transfer run first, as
the first page of the on-call chain, and connects the patient itself only when the call is
still its own.

An entry is the call's `CallObserver`: the voice session gets the call's media as it is and
reports the transfers it starts to the entry (`appliance.calls.observed_transfer`).
"""

from __future__ import annotations

import asyncio
import contextlib

from appliance.calls import CallMedia, TransferResult
from appliance.conversation import Reply
from appliance.records.ids import new_call_key


class LiveCall:
    """One call in progress; its `CallObserver`."""

    def __init__(self, media: CallMedia, line: str, key: str) -> None:
        self.media = media  # the call's own media (a SipCall on the SIP edge): the pager bridges it
        self.line = line
        self.key = key  # the appliance's own id for the call (its record's `call_key`)
        self.call_id = media.info.call_id  # the PBX's Call-ID: data only, it may repeat
        self.planned: str | None = None  # target of a warm transfer the conversation asked for
        self.transferring: str | None = None  # target of the transfer under way
        self.transfer_result: TransferResult | None = None
        self.ended = False
        self.end_reason = ""
        self._changed = asyncio.Event()

    def saw_reply(self, reply: Reply) -> None:
        """The conversation's reply (before its escalations are stored): note a planned transfer."""
        for action in reply.actions:
            if action.kind == "transfer" and action.target and self.transfer_result is None:
                self.planned = action.target
                self.changed()

    def transfer_started(self, target: str) -> None:
        self.transferring = target
        self.changed()

    def transfer_ended(self, result: TransferResult | None) -> None:
        """The transfer returned `result`, or raised (None: no result, the call is as it was)."""
        self.transferring = None
        if result is not None:
            self.transfer_result = result
        self.changed()

    def changed(self) -> None:
        self._changed.set()

    def arm(self) -> None:
        """Before looking at the state: the next `wait_change` returns on any change after this."""
        self._changed.clear()

    async def wait_change(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_s)

    @property
    def busy(self) -> bool:
        """The conversation's own transfer is planned or under way (leave the call to it)."""
        return not self.ended and self.transfer_result is None and (self.planned or self.transferring) is not None


class LiveCalls:
    """Calls in progress by call key. `open` makes the key when the caller has none; the call's
    record must be stored under the same key (`CallRef.of(..., key=entry.key)`,
    `start_call(..., key=entry.key)`) so that an escalation row leads back to its entry."""

    def __init__(self) -> None:
        self.calls: dict[str, LiveCall] = {}

    def open(self, media: CallMedia, key: str | None = None) -> LiveCall:
        key = key or new_call_key()
        if key in self.calls:
            raise ValueError("a live call already has this key")
        used = {c.line for c in self.calls.values()}
        line = next(str(n) for n in range(1, len(used) + 2) if str(n) not in used)
        entry = LiveCall(media, line, key)
        self.calls[key] = entry
        return entry

    def close(self, entry: LiveCall, reason: str) -> None:
        entry.ended = True
        entry.end_reason = reason
        entry.changed()
        if self.calls.get(entry.key) is entry:
            del self.calls[entry.key]

    def get(self, key: str | None) -> LiveCall | None:
        """The call in progress with this call key (the record's `call_key`), if any."""
        return self.calls.get(key) if key else None

    def with_call_id(self, pbx_call_id: str) -> list[LiveCall]:
        """Every call in progress that the PBX named `pbx_call_id` (there may be several)."""
        return [c for c in self.calls.values() if c.call_id == pbx_call_id]

    @property
    def active(self) -> int:
        """How many calls are in progress (not `__len__`: an empty registry must stay truthy)."""
        return len(self.calls)
