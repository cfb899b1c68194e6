"""The agent's own voice coming back in the caller's audio: found and taken out before the VAD.

A speakerphone, or a desk phone or gateway without echo cancellation, returns what the agent
says, delayed (the network's round trip plus the phone) and attenuated. Heard by the VAD, that
echo would hold or interrupt the agent and start caller turns made of the agent's own words.

The media sends and receives on one 20 ms clock, so each caller frame comes with the frame the
agent played in the same tick (`AudioIn.played`). For each caller frame this finds the delay
(0 to `max_delay_s`) at which the agent's recent audio best explains the caller's last
`context_s`, by normalised cross-correlation; when it explains at least `min_share` of the
energy at the same delay (within `tolerance` samples) in `confirm` frames in a row, with a gain
below 1 (an echo is quieter than what was played), that delay and gain are the echo path, and
the scaled, delayed copy is subtracted. A frame that was echo alone (the context explained, the
residual far below the frame) is silenced, as a canceller's residual-echo suppressor does: what
subtraction leaves of G.711 audio is quantisation noise that still follows the agent's speech. A
caller whose speech happens to resemble the agent's (the same synthetic voice, the same pitch)
peaks at a different delay from frame to frame and never makes a path. A frame the agent's audio
explains at 90 % or more is taken as echo at once (the onset of a reply, before a path is
confirmed): a caller's own speech is never that close a copy of what was played. While the
caller talks over the agent the correlation falls (caller speech is not explained by the
agent's audio), so the path found last is used: echo paths do not change within a call unless
the call moves (hold, transfer), and a new path replaces the old as soon as it is found. Caller
speech is never subtracted: it is uncorrelated with the agent's audio. No agent audio in range:
the frame passes through untouched.

Pure: numpy on the samples it is given, no clock, no I/O; a few hundred microseconds per 20 ms.
"""

from __future__ import annotations

import numpy as np

_RATE = 8000
_SILENT = 1e-6  # mean square (float audio, full scale 1.0) below which the agent was silent
SURE_SHARE = 0.9  # a frame the agent's audio explains this well is echo even before a path is confirmed
RESIDUAL_DB = 20.0  # a frame whose residual is this far below it was echo alone: silenced
_FLOOR = 1e-6  # mean square (-60 dBFS) below which a residual is the line's floor, not speech


def _pow2(n: int) -> int:
    return 1 << (n - 1).bit_length()


class EchoCanceller:
    def __init__(self, max_delay_s: float = 0.5, context_s: float = 0.1, min_share: float = 0.7,
                 confirm: int = 3, tolerance: int = 2) -> None:
        self.max_delay = int(max_delay_s * _RATE)
        self.context = int(context_s * _RATE)
        self.min_share = min_share
        self.confirm = confirm
        self.tolerance = tolerance
        self._seen: list[tuple[int, float]] = []  # the last frames' confident (delay, gain)
        keep = self.max_delay + self.context
        self._near = np.zeros(self.context, dtype=np.float64)  # the caller's last `context` samples
        self._far = np.zeros(keep, dtype=np.float64)  # the agent's audio, aligned with the caller's
        self.delay: int | None = None  # the echo path found last: delay in samples ...
        self.gain = 0.0  # ... and gain
        self.share = 0.0  # the share of the caller's energy the echo explained, last frame
        self.removed = 0  # frames with echo taken out
        self.suppressed = 0  # of those, frames that were echo alone: silenced (residual suppression)

    def process(self, near: np.ndarray, far: np.ndarray | None) -> np.ndarray:
        """`near`: a caller frame (float, 8 kHz); `far`: what the agent played in the same tick
        (None or empty: silence). Returns the caller frame with the agent's echo taken out."""
        n = near.size
        far = np.zeros(n) if far is None or far.size == 0 else np.resize(far.astype(np.float64), n)
        self._far = np.concatenate([self._far[n:], far])
        self._near = np.concatenate([self._near[n:], near.astype(np.float64)])
        self.share = 0.0
        if float(np.mean(self._far * self._far)) < _SILENT:
            return near
        lag, gain, share = self._fit()
        self.share = share
        if share >= self.min_share and 0.0 < gain < 1.0:
            self._seen = [*self._seen[-(self.confirm - 1):], (lag, gain)] if self.confirm > 1 else [(lag, gain)]
            if len(self._seen) == self.confirm and max(d for d, _ in self._seen) - min(d for d, _ in self._seen) \
                    <= self.tolerance:
                self.delay, self.gain = lag, gain
        else:
            self._seen = []
        delay, g = self.delay, self.gain
        if share >= SURE_SHARE and 0.0 < gain < 1.0:
            delay, g = lag, gain  # nothing but the agent's audio: echo, before any path is confirmed
        if delay is None or g <= 0.0:
            return near
        # The delayed copy under this frame: far samples `delay` before the frame's own.
        end = self._far.size - delay
        copy = self._far[end - n:end]
        self.removed += 1
        out = near - g * copy
        if share >= self.min_share and self._echo_only(near, out):
            self.suppressed += 1
            return np.zeros_like(near)
        return out.astype(near.dtype)

    @staticmethod
    def _echo_only(near: np.ndarray, out: np.ndarray) -> bool:
        """What subtraction leaves of a frame that was echo alone (G.711's quantisation noise,
        which follows the agent's speech and which a VAD can take for faint speech) is at least
        `RESIDUAL_DB` below the frame, or below the line's floor. A caller's own speech in the
        frame is not subtracted and keeps it above both."""
        e_in = float(np.dot(near.astype(np.float64), near))
        e_out = float(np.dot(out, out))
        return e_out <= e_in * 10 ** (-RESIDUAL_DB / 10) or e_out <= _FLOOR * out.size

    def _fit(self) -> tuple[int, float, float]:
        """(delay, gain, explained share) of the best delayed copy of the agent's audio."""
        x = self._near
        m = x.size
        e_x = float(np.dot(x, x))
        if e_x <= 0.0:
            return 0, 0.0, 0.0
        # r[j] for j = 0..max_delay: sum_i x[i] * far[start - j + i], start = len(far) - m
        f = self._far
        size = _pow2(f.size + m)
        spec = np.fft.rfft(f, size) * np.conj(np.fft.rfft(x, size))
        corr = np.fft.irfft(spec, size)[: f.size - m + 1]  # corr[k] = sum_i x[i] * f[k + i]
        sq = np.concatenate([[0.0], np.cumsum(f * f)])
        energy = sq[m:] - sq[:-m]  # energy[k] = sum_i f[k + i]^2
        valid = energy > _SILENT * m
        with np.errstate(divide="ignore", invalid="ignore"):
            rho2 = np.where(valid, corr * np.abs(corr) / (energy * e_x), 0.0)
        k = int(np.argmax(rho2))
        share = float(max(0.0, rho2[k]))
        lag = (f.size - m) - k
        gain = float(corr[k] / energy[k]) if valid[k] else 0.0
        return lag, gain, share
