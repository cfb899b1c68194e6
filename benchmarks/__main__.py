"""`python -m benchmarks [--quick] [--out DIR] [--calls 1,2,4] [--target-ms MS] ...`, or `--soak MINUTES`
(benchmarks/soak.py): see benchmarks/README.md."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from benchmarks.run import Options, main


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m benchmarks",
                                description="Latency on the wire against a stock Pipecat baseline, the physical "
                                            "floor, concurrency, resources and ASR accuracy.")
    p.add_argument("--quick", action="store_true", help="one short script, 1-2 concurrent calls, a small ASR corpus")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                   help="output folder (default: benchmarks/results; logs and audio go to its tmp/)")
    p.add_argument("--calls", default=None, help="concurrency levels, e.g. 1,2,4 (default 1,2,4; quick: 1,2)")
    p.add_argument("--target-ms", type=float, default=2500.0,
                   help="p95 voice-to-voice target that ends the concurrency sweep (default 2500)")
    p.add_argument("--rounds", type=int, default=1, help="latency rounds over the scripts (default 1)")
    p.add_argument("--reply-timeout", type=float, default=30.0,
                   help="seconds a caller turn waits for a reply before the benchmark fails (default 30)")
    p.add_argument("--no-baseline", action="store_true", help="skip the stock Pipecat baseline (no ratios)")
    p.add_argument("--no-asr", action="store_true", help="skip the ASR accuracy section")
    p.add_argument("--no-redflags", action="store_true",
                   help="skip the red-flag corpus by voice (python -m benchmarks.redflags_voice runs it alone)")
    p.add_argument("--no-isolation", action="store_true",
                   help="skip the isolation cost (latency calls with the models in process, per-call IPC)")
    p.add_argument("--voice", action="append", default=[], metavar="KEY=VALUE",
                   help="a [voice] setting for the appliance under test, as TOML (e.g. complete_end_ms=300); repeatable")
    p.add_argument("--no-encrypted", action="store_true",
                   help="skip the latency scripts over SIP/TLS with SRTP (plain vs encrypted ratio)")
    a = p.parse_args(argv)
    try:
        calls = [int(x) for x in (a.calls or ("1,2" if a.quick else "1,2,4")).split(",") if x.strip()]
    except ValueError:
        p.error("--calls takes comma-separated whole numbers, e.g. 1,2,4")
    if not calls or any(c < 1 or c > 32 for c in calls) or calls != sorted(calls):
        p.error("--calls: increasing levels between 1 and 32, e.g. 1,2,4")
    if not 1 <= a.rounds <= 10:
        p.error("--rounds: 1 to 10")
    try:
        voice = voice_settings(a.voice)
    except ValueError as e:
        p.error(f"--voice: {e}")
    return Options(out=a.out, quick=a.quick, calls=calls, target_ms=a.target_ms, rounds=a.rounds,
                   baseline=not a.no_baseline, asr=not a.no_asr, isolation=not a.no_isolation, redflags=not a.no_redflags,
                   encrypted=not a.no_encrypted, reply_timeout_s=a.reply_timeout, voice=voice,
                   command=shlex.join(["python", "-m", "benchmarks", *argv]))


def voice_settings(pairs: list[str]) -> str:
    """`KEY=VALUE` pairs as the body of a `[voice]` table, checked against `VoiceSettings`."""
    import tomllib

    from pydantic import ValidationError

    from appliance.config import VoiceSettings

    lines = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{pair!r}: expected KEY=VALUE, e.g. complete_end_ms=300")
        lines.append(f"{key.strip()} = {value.strip()}")
    body = "\n".join(lines)
    try:
        VoiceSettings(**tomllib.loads(body))
    except (tomllib.TOMLDecodeError, ValidationError) as e:
        raise ValueError(str(e).splitlines()[0] if isinstance(e, tomllib.TOMLDecodeError) else str(e)) from None
    return body


if __name__ == "__main__":
    if sys.argv[1:2] == ["--soak"]:  # python -m benchmarks --soak MINUTES [--calls N] [--out DIR]
        from benchmarks import soak

        sys.exit(soak.main(["--minutes", *sys.argv[2:]]))
    sys.exit(main(parse(sys.argv[1:])))
