"""A synthesised line starts at once: the voice's own lead-in silence is trimmed, so the first
word of a reply is on the wire in the first or second packet (a soft onset such as "th" can
stay under the speech level for its first few ms), not 40-60 ms in as Piper renders it."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.voice.audio import pcm_to_float, trim_leading_silence
from appliance.voice.engines import Engines

PACKET = 160  # 20 ms at 8 kHz


def test_the_trim_keeps_ten_ms_before_the_first_loud_sample() -> None:
    x = np.concatenate([np.zeros(400, np.float32), np.full(80, 0.2, np.float32), np.zeros(40, np.float32)])
    out = trim_leading_silence(x, 8000, keep_ms=10)
    assert out.size == x.size - 400 + 80
    assert float(np.abs(out[:80]).max()) == 0.0 and float(out[80]) == pytest.approx(0.2)


def test_the_trim_leaves_quiet_audio_and_early_onsets_alone() -> None:
    quiet = np.full(800, 0.001, np.float32)
    assert trim_leading_silence(quiet, 8000).size == 800
    early = np.concatenate([np.zeros(20, np.float32), np.full(100, 0.5, np.float32)])
    assert trim_leading_silence(early, 8000).size == 120  # less lead-in than it keeps


@pytest.mark.parametrize("line", ["Botox is priced per unit.", "Thank you, I have that.",
                                  "A typical forehead takes 10 to 20 units."])
def test_piper_lines_carry_speech_by_their_second_packet(engines: Engines, line: str) -> None:
    x = pcm_to_float(engines.tts.synthesize(line))
    levels = [20 * np.log10(max(1e-9, float(np.sqrt(np.mean(x[i:i + PACKET] ** 2)))))
              for i in range(0, x.size - PACKET, PACKET)]
    onset = next(i for i, dbfs in enumerate(levels) if dbfs > -45.0)  # the wire benchmark's speech level
    assert onset <= 1, f"{line!r}: speech starts in packet {onset} ({[round(v) for v in levels[:4]]} dBFS)"
