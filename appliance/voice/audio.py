"""Audio helpers: PCM conversions, soxr resampling, leading-silence trim, G.711 µ-law, WAV files,
sentence splitting."""

from __future__ import annotations

import re
import wave
from pathlib import Path
from typing import cast

import numpy as np
import soxr

from appliance.errors import ApplianceError


class AudioError(ApplianceError):
    code = "audio-invalid"


def pcm_to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm(x: np.ndarray) -> bytes:
    pcm: bytes = (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()  # numpy types np.clip's result Any
    return pcm


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Band-limited resampling (soxr HQ), never decimation."""
    if src == dst or x.size == 0:
        return x.astype(np.float32, copy=False)
    # soxr is untyped: its resample returns Any (a float32 array here).
    return cast(np.ndarray, soxr.resample(x.astype(np.float32, copy=False), src, dst, quality="HQ"))


def trim_leading_silence(x: np.ndarray, rate: int, keep_ms: int = 10, floor: float = 0.003) -> np.ndarray:
    """`x` from `keep_ms` before its first sample above `floor` (about -50 dBFS): a synthesised
    line starts at once instead of after the voice's own lead-in (Piper's: 20-60 ms), which the
    caller would otherwise wait through before every reply. Silence throughout is kept as it is."""
    loud = np.flatnonzero(np.abs(x) > floor)
    if loud.size == 0:
        return x
    return x[max(0, int(loud[0]) - rate * keep_ms // 1000):]


# G.711 µ-law (ITU-T G.711), vectorised.
_BIAS = 0x84
_CLIP = 32635


def ulaw_encode(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    encoded: bytes = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()  # numpy: Any
    return encoded


def ulaw_decode(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -mag, mag).astype("<i2").tobytes()


def telephone_band(pcm: bytes, rate: int) -> bytes:
    """What a caller's voice becomes on a G.711 call: 8 kHz, µ-law round trip, 16-bit PCM."""
    x = resample(pcm_to_float(pcm), rate, 8000)
    return ulaw_decode(ulaw_encode(float_to_pcm(x)))


def read_wav(path: str | Path, rate: int = 8000) -> bytes:
    """Read a mono or stereo 16-bit WAV and return mono 16-bit PCM at `rate`."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, src, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (OSError, EOFError, wave.Error) as e:
        raise AudioError(f"{path}: not a readable WAV file: {e}", fix="give a 16-bit PCM WAV (sox in.x -b 16 out.wav)") from e
    if width != 2:
        raise AudioError(f"{path}: {8 * width}-bit samples", fix="convert to 16-bit: sox IN -b 16 OUT.wav")
    x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return float_to_pcm(resample(x, src, rate))


def write_wav(path: str | Path, pcm: bytes, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def rms_dbfs(pcm: bytes) -> float:
    x = pcm_to_float(pcm)
    if x.size == 0:
        return -120.0
    return float(20 * np.log10(max(1e-6, float(np.sqrt(np.mean(x * x))))))


_CLAUSE = re.compile(r"(?<=[.!?;:])\s+|(?<=,)\s+(?=\S{1,}\s+\S+\s+\S+)")


def split_sentences(text: str, first_clause_min_chars: int = 12) -> list[str]:
    """Split a reply into sentences to synthesise one by one; the first sentence is further
    cut at its first comma (if long enough), so the first audio comes after the first clause."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?;:])\s+", text.strip()) if p.strip()]
    if parts and "," in parts[0]:
        head, _, rest = parts[0].partition(",")
        if len(head) >= first_clause_min_chars and len(rest.strip()) >= first_clause_min_chars:
            parts[0:1] = [head + ",", rest.strip()]
    return parts


class RecentAudio:
    """A stream's recent 8 kHz PCM on its own timeline (seconds since its first sample); older
    audio than `keep_s` is dropped. `slice` takes a stretch of it by time."""

    def __init__(self, keep_s: float = 60.0, rate: int = 8000) -> None:
        self.keep = int(keep_s * rate)
        self.rate = rate
        self.buf = bytearray()
        self.origin = 0  # sample index of buf[0]

    def append(self, pcm: bytes) -> None:
        self.buf.extend(pcm)
        excess = len(self.buf) // 2 - self.keep
        if excess > 0:
            del self.buf[: excess * 2]
            self.origin += excess

    def slice(self, start_s: float, end_s: float) -> bytes:
        a = max(0, int(start_s * self.rate) - self.origin)
        b = max(a, int(end_s * self.rate) - self.origin)
        return bytes(self.buf[a * 2: b * 2])
