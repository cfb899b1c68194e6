"""G.711 µ-law and A-law (ITU-T G.711) with 16-bit linear PCM, via numpy lookup tables.

Decoding is a 256-entry table; encoding is a 65 536-entry table indexed by the 16-bit sample,
so both directions are one vectorised lookup and the audio keeps its 16-bit resolution.
"""

from __future__ import annotations

import numpy as np


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32)
    v = pcm >> 2  # 14-bit, as in the G.711 reference code
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 8159) + 0x21
    segment = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), v)
    code = np.where(segment > 7, 0x7F, (segment << 4) | ((v >> (segment + 1)) & 0x0F)) ^ mask
    return _by_uint16(pcm, code & 0xFF)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(pcm >= 0, 0x80, 0)
    mag = np.minimum(np.where(pcm >= 0, pcm, -pcm - 1), 32767)
    exponent = np.clip(np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 7, 0, 7)
    mantissa = np.where(exponent == 0, mag >> 4, mag >> (exponent + 3)) & 0x0F
    code = (sign | (exponent << 4) | mantissa) ^ 0x55
    return _by_uint16(pcm, code)


def _by_uint16(pcm: np.ndarray, code: np.ndarray) -> np.ndarray:
    table = np.zeros(65536, dtype=np.uint8)
    table[pcm.astype(np.int16).view(np.uint16)] = code.astype(np.uint8)
    return table


ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
ULAW_ENCODE = _ulaw_encode_table()
ALAW_ENCODE = _alaw_encode_table()


def ulaw_decode(data: bytes) -> bytes:
    return ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def alaw_decode(data: bytes) -> bytes:
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def ulaw_encode(pcm: bytes) -> bytes:
    return ULAW_ENCODE[np.frombuffer(pcm, dtype="<i2").view(np.uint16)].tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    return ALAW_ENCODE[np.frombuffer(pcm, dtype="<i2").view(np.uint16)].tobytes()


ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5
