"""The live-call registry observes a call: the voice session gets the call's own media and
reports the transfers it starts to the call's entry (`appliance.calls.observed_transfer`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from appliance.calls import CallInfo, TransferResult, observed_transfer
from appliance.conversation import Action, Reply
from appliance.live.registry import LiveCall, LiveCalls


class Media:
    """A call's media that only transfers: as told, or held until released."""

    def __init__(self, outcome: TransferResult | BaseException | None = None) -> None:
        self.info = CallInfo(call_id="call-1", direction="inbound", remote_number="4155550101")
        self.outcome = outcome
        self.release = asyncio.Event()
        self.seen: list[tuple[str, bool, bytes | None]] = []

    async def transfer(self, target: str, *, attended: bool = False, brief_pcm: bytes | None = None) -> TransferResult:
        self.seen.append((target, attended, brief_pcm))
        if self.outcome is None:
            await self.release.wait()
            return TransferResult(True, "attended" if attended else "blind", target)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def entry(media: Media) -> LiveCall:
    return LiveCalls().open(media)  # type: ignore[arg-type]  # only what a transfer uses


async def test_a_transfer_under_way_and_its_result_are_told_to_the_entry() -> None:
    media = Media()
    live = entry(media)
    assert live.media is media and not live.busy  # the call's own media, nothing wrapped
    live.arm()
    task = asyncio.create_task(observed_transfer(media, live, "201", attended=True, brief_pcm=b"\0\0"))
    await live.wait_change(1.0)
    assert (live.transferring, live.transfer_result, live.busy) == ("201", None, True)
    media.release.set()
    result = await task
    assert media.seen == [("201", True, b"\0\0")]
    assert (live.transferring, live.transfer_result, live.busy) == (None, result, False)


async def test_a_failed_transfer_is_its_result_and_a_raised_one_leaves_no_result() -> None:
    refused = TransferResult(False, "blind", "201", "480 Temporarily Unavailable")
    live = entry(Media(refused))
    assert await observed_transfer(live.media, live, "201") == refused
    assert (live.transferring, live.transfer_result) == (None, refused)

    broken = entry(Media(OSError("no route")))
    broken.saw_reply(Reply(actions=(Action("transfer", target="201"),)))  # planned by the conversation
    with pytest.raises(OSError):
        await observed_transfer(broken.media, broken, "201")
    assert (broken.transferring, broken.transfer_result, broken.busy) == (None, None, True)  # still planned


async def test_a_cancelled_transfer_is_no_longer_under_way() -> None:
    media = Media()
    live = entry(media)
    task = asyncio.create_task(observed_transfer(media, live, "201"))
    await asyncio.sleep(0)
    assert live.transferring == "201"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (live.transferring, live.transfer_result) == (None, None)


async def test_without_an_observer_the_transfer_is_the_media_s_own() -> None:
    refused = TransferResult(False, "blind", "201", "busy")
    media = Media(refused)
    assert await observed_transfer(media, None, "201") == refused  # type: ignore[arg-type]  # only what a transfer uses


async def test_the_voice_session_reports_the_transfer_it_starts_to_its_observer() -> None:
    from appliance.voice.session import VoiceSession

    media = Media(TransferResult(True, "blind", "201"))
    live = entry(media)
    conversation: Any = object()
    engines: Any = None  # a blind transfer makes no brief: no engine is used
    session = VoiceSession(media, conversation, engines, observer=live)  # type: ignore[arg-type]  # as above
    result = await session._transfer(Action("transfer", target="201"), None)  # noqa: SLF001
    assert media.seen == [("201", False, None)] and live.transfer_result == result and not live.busy
