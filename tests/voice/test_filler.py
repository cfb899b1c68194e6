"""A slow reply is not met with dead air: the cached acknowledgement goes first; a quick reply
gets none. Real models, the file media's clock."""

from __future__ import annotations

import asyncio

import pytest

from appliance.conversation import Reply, Say
from appliance.voice.engines import Engines

from .helpers import ScriptedConversation, piper, silence
from .test_session import call, said

pytestmark = [pytest.mark.models, pytest.mark.slow]


class SlowConversation(ScriptedConversation):
    delay_s: float = 0.0

    async def caller_said(self, text: str) -> Reply:
        await asyncio.sleep(self.delay_s)  # a language model thinking
        return await super().caller_said(text)


def filler_events(session) -> list[dict]:  # noqa: ANN001
    return [e for e in session.metrics.events if e["event"] == "voice.filler"]


@pytest.mark.parametrize("delay_s", [0.0, 1.5])
async def test_a_slow_reply_is_preceded_by_the_acknowledgement_and_a_quick_one_is_not(engines: Engines,
                                                                                    delay_s: float) -> None:
    q = piper(engines, "Do you offer Botox for frown lines?")
    conv = SlowConversation(answers={"botox": Reply(says=(Say("Yes, we offer Botox for frown lines."),))})
    conv.delay_s = delay_s
    start = 3.5
    media, session = await call(engines, silence(start) + q, conv, tail_s=9.0)
    after = [f for f in media.sent if f.offset_ms > start * 1000 + len(q) / 16]
    heard = said(engines, after)
    assert "offer" in heard, heard
    if delay_s:
        assert len(filler_events(session)) == 1
        assert "moment" in heard and heard.index("moment") < heard.index("offer"), heard
    else:
        assert filler_events(session) == [] and "moment" not in heard, heard
