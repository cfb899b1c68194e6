"""The demo greeting, synthesised with the real Piper voice, invites the caller to speak within 6 s."""

from __future__ import annotations

from datetime import datetime

import pytest

from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.config import Settings
from appliance.models.resolver import resolve_all
from appliance.voice.engines import LOADERS
from appliance.voice.tts import PiperSynthesizer

pytestmark = pytest.mark.models
PACK = load_pack(DEMO_PACK)


@pytest.mark.parametrize("known", [False, True])
def test_greeting_is_one_short_interruptible_turn(known: bool) -> None:
    settings = Settings()
    model = resolve_all(settings, ("tts",))["tts"]
    synth = PiperSynthesizer(LOADERS["tts"](model, settings))
    reply = ClinicConversation(PACK, now=datetime(2025, 3, 12, 10), caller=CallerContext(known_patient=known)).start()
    assert len(reply.says) == 1 and reply.says[0].interruptible  # a caller who talks over it is heard
    seconds = sum(len(synth.synthesize(s.text)) for s in reply.says) / 2 / 8000  # 8 kHz, 16-bit
    print(f"\ngreeting ({'known' if known else 'unknown'} caller): {seconds:.2f} s")
    assert seconds < 6.0 if not known else seconds < 7.0
