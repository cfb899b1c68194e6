"""A phone call without audio: the real call runner, conversation engine and record store, with
the voice session replaced by a script of what the caller says (text in, replies out).

`run_call(runner, info, lines)` plays one call; `ScriptedSession` is installed in place of
`appliance.voice.session` so no model is loaded. Used by the call-flow and crash tests.
"""

from __future__ import annotations

import asyncio
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from appliance.calls import CallInfo
from appliance.conversation import Reply

SCRIPTS: dict[str, list[str]] = {}  # Call-ID -> what the caller says
DEFAULT: list[str] = []  # what callers not in SCRIPTS say (calls placed by SIPp: Call-IDs unknown ahead)
HEARD: dict[str, list[Reply]] = {}  # Call-ID -> the replies the caller got
HOLD: dict[str, asyncio.Event] = {}  # Call-ID -> the script waits here after its lines (crash test)


@dataclass
class FakeMedia:
    info: CallInfo
    sent: list[bytes] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


class ScriptedSession:
    def __init__(self, media: Any, conversation: Any, engines: Any, settings: Any, *,
                 brief: Any = None, observer: Any = None) -> None:
        self.media = media
        self.brief = brief  # the warm-transfer brief's wording, as VoiceSession takes it (no transfers here)
        self.observer = observer  # the call's live-call entry, told of transfers (none are made here)
        self.conversation = conversation
        self.hangup_reason = "remote-bye"

    async def run(self) -> Any:
        call_id = self.media.info.call_id
        heard = HEARD.setdefault(call_id, [])
        heard.append(self.conversation.start())
        for line in SCRIPTS.get(call_id, DEFAULT):
            heard.append(await self.conversation.caller_said(line))
        if call_id in HOLD:
            await HOLD[call_id].wait()
        return self.conversation.ended(self.hangup_reason)


def install() -> None:
    """Replace the voice session module (no models, no pipecat) for this process."""
    module = types.ModuleType("appliance.voice.session")
    module.VoiceSession = ScriptedSession  # type: ignore[attr-defined]
    sys.modules["appliance.voice.session"] = module


async def run_call(runner: Any, info: CallInfo, lines: list[str]) -> list[Reply]:
    SCRIPTS[info.call_id] = lines
    HEARD.pop(info.call_id, None)
    await runner(FakeMedia(info))
    return HEARD.pop(info.call_id, [])
