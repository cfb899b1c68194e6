"""Piper text-to-speech, resampled to 8 kHz with soxr; cached for text known ahead of time."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from appliance.voice.audio import float_to_pcm, resample
from appliance.voice.pronounce import spoken_form


class Synthesizer:
    """Blocking `synthesize(text) -> 8 kHz PCM`: call from a worker thread. One lock per voice;
    an LRU cache of audio for lines marked cacheable (greetings, approved protocol lines)."""

    def __init__(self, voice: Any, cache_items: int = 256) -> None:
        self._voice = voice
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_items = cache_items
        self._pinned: dict[str, bytes] = {}

    def pin(self, text: str) -> None:
        """Synthesise `text` now, piece by piece as the Speech processor cuts it, and keep it for
        the life of the process (never evicted): lines that must play even if synthesis fails
        later, such as the fallback line of a failed model (blocking: call from a thread)."""
        from appliance.voice.audio import split_sentences

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
        with self._lock:
            chunks = list(self._voice.synthesize(spoken_form(text)))
        if not chunks:
            return b""
        rate = chunks[0].sample_rate
        x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        pcm = float_to_pcm(resample(x, rate, 8000))
        if cache:
            with self._cache_lock:
                self._cache[text] = pcm
                while len(self._cache) > self._cache_items:
                    self._cache.popitem(last=False)
        return pcm


def synthesizer_for(voice: Any) -> Synthesizer:
    """One Synthesizer (lock and cache) per loaded voice, shared by all calls."""
    synth: Synthesizer | None = voice.__dict__.get("_appliance_synth")
    if synth is None:
        synth = Synthesizer(voice)
        voice.__dict__["_appliance_synth"] = synth
    return synth
