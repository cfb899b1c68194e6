"""Silero VAD on 8 kHz telephone audio: the bundled `VoiceActivity`.

`SileroVad` holds the shared ONNX session (an onnxruntime session in this process, or
`appliance.inference.proxies.RemoteOnnx` in a worker process); each call gets its own
`SileroStream`, with the call's recurrent state, from `SileroVad.stream()`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from appliance.voice.audio import pcm_to_float

WINDOW = 256  # samples at 8 kHz (32 ms), what the model takes
WINDOW_S = WINDOW / 8000
_CONTEXT = 32
_RESET_EVERY = int(5.0 / WINDOW_S)  # reset the recurrent state in long quiet stretches


class SileroVad:
    """`VoiceActivity` over one Silero ONNX session, shared by all calls."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def stream(self) -> SileroStream:
        return SileroStream(self.session)


class SileroStream:
    """Feed 8 kHz PCM of any length; get (window_start_s, probability) per 32 ms window.

    The ONNX session is shared (onnxruntime sessions are safe to run concurrently); the state
    is this call's. `feed` is blocking CPU work: call it from a worker thread.
    """

    def __init__(self, session: Any) -> None:
        self._session = session
        self._buf = np.zeros(0, dtype=np.float32)
        self._samples = 0  # samples consumed, for timestamps
        self._quiet_windows = 0
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)

    def feed(self, pcm: bytes) -> list[tuple[float, float]]:
        self._buf = np.concatenate([self._buf, pcm_to_float(pcm)])
        out: list[tuple[float, float]] = []
        while self._buf.size >= WINDOW:
            chunk, self._buf = self._buf[:WINDOW], self._buf[WINDOW:]
            x = np.concatenate([self._context, chunk[None, :]], axis=1)
            prob, self._state = self._session.run(
                None, {"input": x, "state": self._state, "sr": np.array(8000, dtype=np.int64)})
            self._context = x[:, -_CONTEXT:]
            p = float(prob[0][0])
            out.append((self._samples / 8000, p))
            self._samples += WINDOW
            self._quiet_windows = self._quiet_windows + 1 if p < 0.1 else 0
            if self._quiet_windows >= _RESET_EVERY:
                self.reset()  # long silence at 8 kHz can leave the state deaf to the next speech
                self._quiet_windows = 0
        return out
