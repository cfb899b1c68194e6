"""What a caller says just before hanging up is still heard: a red flag said and followed at once
by the hang-up (inside the end-of-turn silence) reaches the conversation, and nothing is played
or done on the call that is gone. Real models, the file media's clock."""

from __future__ import annotations

import pytest

from appliance.conversation import Action, Reply, Say
from appliance.voice.engines import Engines

from .helpers import ScriptedConversation, piper, silence
from .test_session import call

pytestmark = [pytest.mark.models, pytest.mark.slow]


async def test_words_said_just_before_the_hang_up_reach_the_conversation(engines: Engines) -> None:
    q = piper(engines, "My vision is blurry since the filler yesterday.")
    conv = ScriptedConversation(answers={"vision": Reply(
        says=(Say("This may be serious. I am transferring you to the nurse now.", interruptible=False),),
        actions=(Action("transfer", target="201"),))})
    media, session = await call(engines, silence(3.5) + q, conv, tail_s=0.1)  # hangs up 100 ms after speaking
    assert len(conv.heard) == 1 and "vision" in conv.heard[0].lower(), conv.heard
    assert conv.end_reason == "remote-bye"
    spoke_after = [f for f in media.sent if f.offset_ms > 3500 + len(q) / 16 + 200]
    assert spoke_after == []  # nothing was played on the call that was gone
    assert media.transfers == []  # and nothing was done on it
    assert [e["event"] for e in session.metrics.events if e["event"] == "voice.turn_after_hangup"] == [
        "voice.turn_after_hangup"]
