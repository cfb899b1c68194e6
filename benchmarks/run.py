"""The benchmark run: start both systems, call them with the same caller, measure, report.

Order: caller audio → appliance start-up → baseline start-up → latency calls (the appliance
and the baseline alternately, so machine noise hits both alike) → the appliance started once
more over SIP/TLS with SRTP required, the latency scripts once through it, stopped → barge-in
calls → baseline stopped → concurrency sweep on the appliance → appliance stopped → floor → ASR accuracy →
result.json, plots, summary.md. Any failure stops the run with a message and exit status 1.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks import floor, report, stages, turntaking
from benchmarks.dialogue import CallResult, Timing, run_call
from benchmarks.scripts import LATENCY_SCRIPTS, QUICK_SCRIPTS, SCRIPTS, SWEEP_SCRIPT, WARM_UP, Clip, clips_for
from benchmarks.targets import Appliance, Baseline, Target, Usage


@dataclass
class Options:
    out: Path = Path("benchmarks/results")
    quick: bool = False
    calls: list[int] = field(default_factory=lambda: [1, 2, 4])
    target_ms: float = 2500.0
    rounds: int = 1
    baseline: bool = True
    asr: bool = True
    isolation: bool = True  # also run the latency calls with the models in the service process
    redflags: bool = True  # the red-flag corpus by voice (benchmarks/redflags_voice.py; quick: its sample)
    encrypted: bool = True  # the latency scripts once more over SIP/TLS + SRTP (plain vs encrypted)
    reply_timeout_s: float = 30.0
    command: str = ""
    voice: str = ""  # body of the `[voice]` table of the appliance under test (`--voice KEY=VALUE`)


class Progress:
    """A rich progress bar on a terminal; one line per step otherwise."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.console = Console(stderr=True)
        self.bar = Bar(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=self.console, disable=not self.console.is_terminal)
        self.task = self.bar.add_task("starting", total=total)

    def __enter__(self) -> Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def step(self, what: str, advance: int = 1) -> None:
        self.bar.update(self.task, description=what, advance=advance)
        if not self.console.is_terminal:
            done = self.bar.tasks[0].completed
            self.console.print(f"[bench] {done:.0f}/{self.bar.tasks[0].total:.0f} {what}", highlight=False)

    def extend(self, n: int) -> None:
        self.bar.update(self.task, total=(self.bar.tasks[0].total or 0) + n)


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _call(target: Target, script: str, clips: dict[str, Clip], timing: Timing, usage: Usage | None = None,
          ) -> tuple[CallResult, dict[str, float] | None]:
    if usage:
        usage.start()
    if isinstance(target, Baseline):
        result = run_call(target.name, target.sip_port, SCRIPTS[script], clips, greets=False, timing=timing,
                          strict=False, on_answer=lambda cid: target.call_ready(cid, 60))
    else:
        result = run_call(target.name, target.sip_port, SCRIPTS[script], clips, greets=True, timing=timing,
                          tls=target.tls)
    return result, (usage.stop() if usage else None)


def _attach_stages(target: Target, call: CallResult) -> None:
    """Put each turn's per-stage times (from the target's own events) into turn.appliance."""
    if isinstance(target, Appliance):
        time.sleep(0.3)  # the last turn's metrics are logged once its reply has played out
        rows = {e.get("turn"): e for e in target.turn_metrics(call.call_id)}
        for turn in call.turns:
            m = rows.get(turn.turn)
            if m is not None and turn.v2v_ms is not None:
                turn.appliance = stages.ours(m, turn.v2v_ms)
    elif isinstance(target, Baseline):
        events = target.stages(call.call_id)
        for turn in call.turns:
            if turn.t_reply is not None and turn.v2v_ms is not None:
                turn.appliance = stages.baseline(events, turn.t_last_speech, turn.t_reply) or {}


def _summarise(calls: list[CallResult], usages: list[dict[str, float]]) -> dict[str, Any]:
    turns = [t for c in calls for t in c.turns]
    v2v = [t.v2v_ms for t in turns if t.v2v_ms is not None and not t.no_reply]
    per_stage = [t.appliance for t in turns if t.appliance and "out_ms" in t.appliance]
    return {
        "calls": len(calls),
        "turns": [dict(t.as_dict(), script=c.script, call_id=c.call_id) for c in calls for t in c.turns],
        "v2v_p50_ms": _pct(v2v, 50), "v2v_p90_ms": _pct(v2v, 90), "v2v_p95_ms": _pct(v2v, 95),
        "no_reply_turns": sum(1 for t in turns if t.no_reply),
        "talked_over_turns": sum(1 for t in turns if t.talked_over),
        "first_word_ms": _pct([c.first_word_ms for c in calls if c.first_word_ms is not None], 50),
        "call_setup_ms": _pct([c.setup_ms for c in calls], 50),
        "stage_medians": stages.medians(per_stage),
        "cpu_s_per_call": round(sum(u["cpu_s"] for u in usages) / max(1, len(usages)), 2) if usages else None,
        "peak_rss_mib": max((u["peak_rss_mib"] for u in usages), default=None),
    }


def _sweep(ours: Appliance, clips: dict[str, Clip], opts: Options, timing: Timing, progress: Progress,
           ) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for n in opts.calls:
        progress.step(f"concurrency: {n} call(s) at once")
        results: list[CallResult | BaseException] = []
        lock = threading.Lock()

        def one(delay: float, results: list[CallResult | BaseException] = results, lock: threading.Lock = lock) -> None:
            time.sleep(delay)
            try:
                r: CallResult | BaseException = _call(ours, SWEEP_SCRIPT, clips, timing)[0]
            except BaseException as e:  # reported below, with the others' results
                r = e
            with lock:
                results.append(r)

        usage = Usage(ours.pids())
        usage.start()
        threads = [threading.Thread(target=one, args=(random.uniform(0, 1.5) if i else 0.0,), daemon=True)
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        used = usage.stop()
        failures = [r for r in results if isinstance(r, BaseException)] + [None] * sum(t.is_alive() for t in threads)
        if failures:
            raise RuntimeError(f"concurrency {n}: {len(failures)} of {n} calls failed: "
                               f"{next((str(f) for f in failures if f), 'a call did not finish in 300 s')}")
        v2v = [t.v2v_ms for r in results if isinstance(r, CallResult) for t in r.turns if t.v2v_ms is not None]
        row = {"calls": n, "turns": len(v2v), "p50_ms": _pct(v2v, 50), "p95_ms": _pct(v2v, 95),
               "missing": 0, "cpu_s_per_call": round(used["cpu_s"] / n, 2), "peak_rss_mib": used["peak_rss_mib"]}
        rows.append(row)
        if row["p95_ms"] is not None and row["p95_ms"] > opts.target_ms and len(rows) >= 2:
            break  # over the target (the first two levels always run, to show the trend)
    within = [r["calls"] for r in rows if r["p95_ms"] is not None and r["p95_ms"] <= opts.target_ms]
    return {"target_ms": opts.target_ms, "script": SWEEP_SCRIPT, "rows": rows,
            "max_calls_within_target": max(within) if within else 0}


def _encrypted(work: Path, scripts: list[str], clips: dict[str, Clip], timing: Timing, progress: Progress,
               targets: list[Target], voice: str = "") -> tuple[str, list[CallResult], list[dict[str, float]], float]:
    """The appliance once more, over SIP/TLS with SRTP required: a warm-up call, then each latency
    script once; stopped after. (its name, its calls, their resources, its start-up s)"""
    progress.step("starting the appliance over SIP/TLS with SRTP required")
    secure = Appliance(work / "appliance-srtp", secure=True, voice=voice)
    targets.append(secure)
    progress.step(f"{secure.name}: warm-up call (not measured)")
    run_call(secure.name, secure.sip_port, WARM_UP, clips, greets=True, timing=timing, strict=False, tls=secure.tls)
    calls: list[CallResult] = []
    usage: list[dict[str, float]] = []
    for script in scripts:
        progress.step(f"{secure.name}: {script} (TLS + SRTP)")
        call, used = _call(secure, script, clips, timing, Usage(secure.pids()))
        _attach_stages(secure, call)
        calls.append(call)
        usage.append(used or {})
    secure.stop()
    targets.remove(secure)
    return secure.name, calls, usage, secure.ready_s


def encrypted_summary(plain: dict[str, Any], secure: dict[str, Any], calls: list[CallResult],
                      crypto_us: dict[str, float] | None = None) -> dict[str, Any]:
    """Plain (UDP, RTP) against encrypted (TLS, SRTP) voice-to-voice, both from this run, as ratios;
    `crypto_us`: libsrtp's cost per packet on this machine (secure_caller.srtp_cost_us)."""
    sec = [c.security or {} for c in calls]
    out: dict[str, Any] = {"plain_turns": len([t for t in plain.get("turns", []) if t.get("v2v_ms") is not None]),
                           "encrypted_turns": len([t for t in secure.get("turns", []) if t.get("v2v_ms") is not None]),
                           "tls": sorted({str(s.get("tls")) for s in sec}),
                           "srtp_packets": {k: sum(int(s.get(f"srtp_{k}", 0)) for s in sec)
                                            for k in ("protected", "unprotected", "failed")}}
    for q in ("p50", "p95"):
        a, b = plain.get(f"v2v_{q}_ms"), secure.get(f"v2v_{q}_ms")
        out[f"plain_{q}_ms"], out[f"encrypted_{q}_ms"] = a, b
        out[f"ratio_{q}"] = round(b / a, 3) if a and b is not None else None
    out["call_setup_ms"] = {"plain": plain.get("call_setup_ms"), "encrypted": secure.get("call_setup_ms")}
    out["srtp_crypto_us_per_packet"] = crypto_us
    return out


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()]}


def run(opts: Options) -> dict[str, Any]:
    out = opts.out
    work = out / "tmp"
    scripts = list(QUICK_SCRIPTS if opts.quick else LATENCY_SCRIPTS)
    timing = Timing(reply_timeout_s=opts.reply_timeout_s)
    result: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "command": opts.command,
                              "voice_settings": opts.voice,
                              "machine": machine(), "options": {"quick": opts.quick, "calls": opts.calls,
                                                                "target_ms": opts.target_ms, "rounds": opts.rounds,
                                                                "encrypted": opts.encrypted}}
    t_start = time.monotonic()
    n_latency = opts.rounds * len(scripts) * (2 if opts.baseline else 1)
    if opts.isolation:
        n_latency += opts.rounds * len(scripts)
    total = (3 + n_latency + 2 * (2 if opts.baseline else 1) + len(opts.calls) + 2 + (1 if opts.asr else 0)
             + (3 if opts.isolation else 0) + (1 if opts.redflags else 0)
             + 2 * (2 if opts.baseline else 1) + len(turntaking.ECHO_DB)
             + (2 + len(scripts) if opts.encrypted else 0))
    targets: list[Target] = []
    with Progress(total) as progress:
        try:
            progress.step("caller audio (Piper, G.711)")
            clips = clips_for([WARM_UP, *(SCRIPTS[s] for s in {*scripts, "barge-in", SWEEP_SCRIPT}),
                               *turntaking.SCRIPTS], work / "clips")
            progress.step("starting the appliance")
            ours = Appliance(work / "appliance", voice=opts.voice)
            targets.append(ours)
            result["startup"] = {"appliance_s": ours.ready_s, "appliance_internal_ms": ours.ready_internal_ms}
            base: Baseline | None = None
            if opts.baseline:
                progress.step("starting the baseline (llama-cpp server + Pipecat)")
                base = Baseline(work / "baseline")
                targets.append(base)
                result["startup"]["baseline_s"] = base.ready_s
            lineup: list[Target] = [ours] + ([base] if base else [])
            inproc: Appliance | None = None
            if opts.isolation:
                progress.step("starting the appliance with models in process (isolation cost)")
                inproc = Appliance(work / "appliance-thread", isolation="thread", voice=opts.voice)
                targets.append(inproc)
                result["startup"]["appliance_thread_s"] = inproc.ready_s
            latency_lineup = lineup + ([inproc] if inproc else [])
            for target in latency_lineup:
                progress.step(f"{target.name}: warm-up call (not measured)")
                run_call(target.name, target.sip_port, WARM_UP, clips, greets=target.greets, timing=timing,
                         strict=False, on_answer=(lambda cid, b=target: b.call_ready(cid, 60))
                         if isinstance(target, Baseline) else None, tls=target.tls)
            calls: dict[str, list[CallResult]] = {t.name: [] for t in latency_lineup}
            usage: dict[str, list[dict[str, float]]] = {t.name: [] for t in latency_lineup}
            for r in range(opts.rounds):
                for script in scripts:
                    for target in (latency_lineup if r % 2 == 0 else latency_lineup[::-1]):
                        progress.step(f"{target.name}: {script} (round {r + 1})")
                        call, used = _call(target, script, clips, timing, Usage(target.pids()))
                        _attach_stages(target, call)
                        calls[target.name].append(call)
                        usage[target.name].append(used or {})
            secure_name = ""
            if opts.encrypted:
                secure_name, secure_calls, secure_usage, result["startup"]["appliance_srtp_s"] = _encrypted(
                    work, scripts, clips, timing, progress, targets, opts.voice)
                calls[secure_name], usage[secure_name] = secure_calls, secure_usage
            barge: dict[str, Any] = {}
            for target in lineup:
                progress.step(f"{target.name}: barge-in")
                call, _ = _call(target, "barge-in", clips, timing)
                step = call.turns[-1]
                barge[target.name] = {"reaction_ms": round(step.barge_in_ms, 1) if step.barge_in_ms else None,
                                      "agent_was_talking": step.barge_valid}
            result["barge_in"] = barge
            result["turn_taking"] = turntaking.run(lineup, clips, timing, progress.step)
            result["latency"] = {name: _summarise(calls[name], usage[name]) for name in calls}
            if secure_name:
                from benchmarks.secure_caller import srtp_cost_us

                result["encrypted"] = encrypted_summary(result["latency"]["appliance"], result["latency"][secure_name],
                                                        calls[secure_name], srtp_cost_us())
            if inproc:
                inproc.stop()
                targets.remove(inproc)
            if base:
                base.stop()
                targets.remove(base)
            result["concurrency"] = _sweep(ours, clips, opts, timing, progress)
            progress.step("stopping the appliance")
            silence_ms = ours.silence_ms
            ours.stop()
            targets.remove(ours)
            progress.step("floor: ASR pass and first TTS chunk")
            endpoint = result["latency"]["appliance"]["stage_medians"].get("endpointing_ms") or silence_ms + 32
            result["floor"] = floor.measure(list(clips.values()), endpoint)
            result["floor"]["configured_silence_ms"] = silence_ms
            if opts.isolation:
                from benchmarks import isolation

                progress.step("isolation: one model call in process and through its worker")
                result["isolation"] = isolation.measure()
            if opts.asr:
                progress.step("ASR accuracy (telephone-band corpus)")
                result["asr"] = _asr(work, opts.quick, progress)
            if opts.redflags:
                from benchmarks import redflags_voice

                progress.step("red flags by voice (corpus x 3 voices, Whisper, the conversation)")
                rf = redflags_voice.run(work, sample=opts.quick)
                result["redflags_voice"] = {k: rf[k] for k in ("summary", "misses", "false_alarms", "duration_s")}
                result["redflags_voice"]["file"] = str(redflags_voice.write(rf, out))
        finally:
            for t in targets:
                t.stop()
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["duration_s"] = round(time.monotonic() - t_start, 1)
    result["headline"] = report.headline(result)
    if "redflags_voice" in result:
        from benchmarks import redflags_voice

        result["headline"] += ["Red flags by voice: " + line.strip()
                               for line in redflags_voice.headline(result["redflags_voice"])[:len(
                                   result["redflags_voice"]["summary"]["by_voice"]) + 1]]
    return result


def _asr(work: Path, quick: bool, progress: Progress) -> dict[str, Any]:
    from appliance.config import Settings
    from appliance.models.resolver import resolve_all
    from appliance.voice.engines import LOADERS
    from benchmarks import asr_accuracy, corpus

    settings = Settings()
    model = LOADERS["asr"](resolve_all(settings, ("asr",))["asr"], settings)
    voices = ("piper", "en-us") if quick else corpus.VOICES
    return asr_accuracy.run(model, work, voices=voices, limit=6 if quick else None)


def main(opts: Options) -> int:
    try:
        result = run(opts)
    except Exception as e:  # the benchmark fails loudly, with what went wrong
        print(f"\nbenchmark FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"logs of the systems under test: {opts.out / 'tmp'}", file=sys.stderr)
        return 1
    files = report.write(result, opts.out)
    print("\n".join(result["headline"]))
    print("wrote " + ", ".join(str(f) for f in files))
    return 0
