"""Per-stage breakdown of a turn: from the appliance's `voice.turn_metrics` events, and from the
baseline's stage events (absolute `time.monotonic()` stamps, comparable with the caller's).

Both are cut into the same stages, each in ms: endpointing (speech end → end-of-turn decision),
asr (what transcription adds after that decision), reply (transcript → reply text; the LLM's
first token for the baseline), tts (reply → first synthesised audio), and out (the rest, up to
the first reply packet on the wire: playout queue, transport, and the difference between the
agent's own speech-end estimate and the caller's last packet).
"""

from __future__ import annotations

from typing import Any

import numpy as np

STAGES = ("endpointing_ms", "asr_ms", "reply_ms", "tts_first_audio_ms", "out_ms")


def _nz(v: Any) -> float:
    return float(v) if isinstance(v, int | float) else 0.0


def ours(metrics: dict[str, Any], wire_ms: float) -> dict[str, float]:
    """Stages of one appliance turn; `metrics` is its voice.turn_metrics event."""
    endpoint = _nz(metrics.get("endpoint_ms"))
    asr = max(0.0, _nz(metrics.get("asr_after_endpoint_ms")))
    reply = _nz(metrics.get("reply_ms"))
    tts = _nz(metrics.get("tts_first_audio_ms"))
    return {"endpointing_ms": endpoint, "asr_ms": asr, "reply_ms": reply, "tts_first_audio_ms": tts,
            "out_ms": max(0.0, wire_ms - endpoint - asr - reply - tts),
            "internal_v2v_ms": _nz(metrics.get("voice_to_voice_ms"))}


def baseline(events: list[dict[str, Any]], t_last: float, t_reply: float) -> dict[str, float] | None:
    """Stages of one baseline turn from its stage events between the caller's last speech
    packet and the first reply packet; None if the turn's milestones are not all there."""

    def first(stage: str, after: float) -> float | None:
        ts = [e["t"] for e in events if e.get("stage") == stage and after <= e["t"] <= t_reply]
        return min(ts) if ts else None

    turn_end = first("turn_end", t_last - 0.5)
    if turn_end is None:
        return None
    transcript = first("transcript", t_last - 0.5)
    heard = max(turn_end, transcript or turn_end)
    token = first("llm_token", heard)
    audio = first("tts_audio", token or heard)
    if token is None or audio is None:
        return None
    return {"endpointing_ms": max(0.0, turn_end - t_last) * 1000, "asr_ms": (heard - turn_end) * 1000,
            "reply_ms": (token - heard) * 1000, "tts_first_audio_ms": (audio - token) * 1000,
            "out_ms": max(0.0, t_reply - audio) * 1000}


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {k: round(float(np.median([r[k] for r in rows if k in r])), 1) for k in rows[0]}
