"""Piper text-to-speech, resampled to 8 kHz with soxr: the bundled `Synthesizer`.

`CachingSynthesizer` is the engine-independent part of a `Synthesizer`: an LRU cache of audio
for lines marked cacheable (greetings, approved protocol lines) and the pinned lines, which are
never evicted. It speaks through `render(text) -> 8 kHz PCM`; `PiperSynthesizer` renders with
one Piper voice (in this process, or `appliance.inference.proxies.RemotePiper` in a worker
process) under one lock, its lead-in silence trimmed to 10 ms (the reply's first word is on the
wire at once; the pause between sentences is the previous sentence's own tail). One synthesiser
per loaded voice, held by `Engines`, shared by all calls. Blocking: call from a worker thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from appliance.voice.audio import float_to_pcm, resample, split_sentences, trim_leading_silence
from appliance.voice.interfaces import Synthesizer
from appliance.voice.pronounce import spoken_form

__all__ = ["CachingSynthesizer", "PiperSynthesizer", "Synthesizer"]


class CachingSynthesizer:
    """A `Synthesizer` over a blocking `render(text) -> 8 kHz PCM` (subclasses override it)."""

    def __init__(self, cache_items: int = 256) -> None:
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_items = cache_items
        self._pinned: dict[str, bytes] = {}

    def render(self, text: str) -> bytes:
        raise NotImplementedError

    def pin(self, text: str) -> None:
        for part in split_sentences(text):
            pcm = self.synthesize(part)
            with self._cache_lock:
                self._pinned[part] = pcm

    def cached(self, text: str) -> bytes | None:
        with self._cache_lock:
            pinned = self._pinned.get(text)
            if pinned is not None:
                return pinned
            pcm = self._cache.get(text)
            if pcm is not None:
                self._cache.move_to_end(text)
            return pcm

    def synthesize(self, text: str, *, cache: bool = False) -> bytes:
        hit = self.cached(text) if cache else None
        if hit is not None:
            return hit
        pcm = self.render(text)
        if cache and pcm:
            with self._cache_lock:
                self._cache[text] = pcm
                while len(self._cache) > self._cache_items:
                    self._cache.popitem(last=False)
        return pcm


class PiperSynthesizer(CachingSynthesizer):
    """Piper, one lock per voice. `voice` is the loaded `piper.PiperVoice` (or its proxy)."""

    def __init__(self, voice: Any, cache_items: int = 256) -> None:
        super().__init__(cache_items)
        self.voice = voice
        self._lock = threading.Lock()

    def render(self, text: str) -> bytes:
        with self._lock:
            chunks = list(self.voice.synthesize(spoken_form(text)))
        if not chunks:
            return b""
        rate = chunks[0].sample_rate
        x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        return float_to_pcm(trim_leading_silence(resample(x, rate, 8000), 8000))
