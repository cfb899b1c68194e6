"""Turn a benchmark result (a dict, saved as JSON) into PNG plots and a markdown summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.stages import STAGES

STAGE_LABELS = {"endpointing_ms": "end of turn (endpointing)", "asr_ms": "ASR after end of turn",
                "reply_ms": "reply text (rules / LLM first token)", "tts_first_audio_ms": "first TTS audio",
                "out_ms": "out: queue, transport, packetisation"}


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_cdf(series: dict[str, list[float]], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, values in series.items():
        if not values:
            continue
        xs = np.sort(values)
        ax.step(xs, np.arange(1, len(xs) + 1) / len(xs), where="post", label=f"{label} (n={len(xs)})")
    ax.set_xlabel("voice-to-voice latency on the wire (ms)")
    ax.set_ylabel("fraction of turns")
    ax.set_title("Voice-to-voice latency, CDF")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_stages(stages: dict[str, dict[str, float]], path: Path, totals: dict[str, float] | None = None) -> None:
    """Stacked bars of the median time per stage, one bar per pipeline (appliance, baseline, floor);
    `totals` (the measured p50 on the wire) are marked on each bar."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    labels = list(stages)
    bottom = np.zeros(len(labels))
    colours = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8c8c8c")
    for stage, colour in zip(STAGES, colours, strict=True):
        vals = np.array([stages[label].get(stage, 0.0) or 0.0 for label in labels])
        if not vals.any():
            continue
        ax.bar(labels, vals, bottom=bottom, label=STAGE_LABELS[stage], color=colour, width=0.55)
        bottom += vals
    for i, label in enumerate(labels):
        total = (totals or {}).get(label)
        if total:
            ax.plot([i - 0.3, i + 0.3], [total, total], color="black", linewidth=2)
            ax.annotate(f"p50 on the wire {total:.0f} ms", (i, total), textcoords="offset points", xytext=(0, 4),
                        ha="center", fontsize=8)
        else:
            ax.annotate(f"{bottom[i]:.0f} ms", (i, bottom[i]), textcoords="offset points", xytext=(0, 4),
                        ha="center", fontsize=8)
    ax.set_ylabel("ms after the caller's last speech (median per stage)")
    ax.set_title("Where the time goes")
    ax.set_ylim(0, max([*bottom, *(totals or {}).values(), 1.0]) * 1.18)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_concurrency(rows: list[dict[str, Any]], target_ms: float, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    calls = [r["calls"] for r in rows]
    ax.plot(calls, [r["p50_ms"] for r in rows], marker="o", label="p50")
    ax.plot(calls, [r["p95_ms"] for r in rows], marker="o", label="p95")
    ax.axhline(target_ms, color="red", linestyle="--", label=f"target {target_ms:.0f} ms")
    ax.set_xscale("log", base=2)
    ax.set_xticks(calls, [str(c) for c in calls])
    ax.set_xlabel("concurrent calls")
    ax.set_ylabel("voice-to-voice latency on the wire (ms)")
    top = max([target_ms, *(r["p95_ms"] or 0 for r in rows)])
    ax.set_ylim(0, top * 1.12)
    ax.set_title("Latency vs concurrent calls")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(result: dict[str, Any], out: Path) -> list[Path]:
    """Write result.json, the plots and summary.md into `out`; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "result.json"]
    files[0].write_text(json.dumps(result, indent=2, default=str))
    lat = result.get("latency", {})
    if lat:
        series = {name: [t["v2v_ms"] for t in data.get("turns", []) if t.get("v2v_ms") is not None]
                  for name, data in lat.items()}
        plot_cdf(series, out / "latency_cdf.png")
        files.append(out / "latency_cdf.png")
        stages = {name: data.get("stage_medians", {}) for name, data in lat.items() if data.get("stage_medians")}
        totals = {name: data["v2v_p50_ms"] for name, data in lat.items() if data.get("v2v_p50_ms")}
        fl = result.get("floor")
        if fl:
            stages["floor"] = {"endpointing_ms": fl["endpointing_ms"], "asr_ms": fl["asr_ms"],
                               "tts_first_audio_ms": fl["tts_first_audio_ms"], "out_ms": fl["packetisation_ms"]}
        if stages:
            plot_stages(stages, out / "stages.png", totals)
            files.append(out / "stages.png")
    if result.get("concurrency"):
        plot_concurrency(result["concurrency"]["rows"], result["concurrency"]["target_ms"], out / "concurrency.png")
        files.append(out / "concurrency.png")
    (out / "summary.md").write_text(summary(result))
    files.append(out / "summary.md")
    return files


def headline(result: dict[str, Any]) -> list[str]:
    """The figures that matter, each as a ratio measured within the run (ours / baseline, ours / floor)."""
    lat = result.get("latency", {})
    ours, base = lat.get("appliance", {}), lat.get("baseline", {})
    lines: list[str] = []
    ratios: dict[str, float | None] = {}

    def pair(label: str, key: str, a: float | None, b: float | None, unit: str, other: str = "baseline") -> None:
        r = ratio(a, b)
        ratios[key] = r
        if a is not None and b is not None:
            lines.append(f"{label}: appliance {a:g} {unit}, {other} {b:g} {unit}: ratio {r}")

    pair("Voice-to-voice p50", "v2v_p50", ours.get("v2v_p50_ms"), base.get("v2v_p50_ms"), "ms")
    pair("Voice-to-voice p90", "v2v_p90", ours.get("v2v_p90_ms"), base.get("v2v_p90_ms"), "ms")
    fl = result.get("floor", {})
    pair("Voice-to-voice p50 against the physical floor", "v2v_p50_over_floor", ours.get("v2v_p50_ms"),
         fl.get("floor_ms"), "ms", other="floor")
    bi = result.get("barge_in", {})
    pair("Barge-in reaction", "barge_in", (bi.get("appliance") or {}).get("reaction_ms"),
         (bi.get("baseline") or {}).get("reaction_ms"), "ms")
    tt = result.get("turn_taking")
    if tt:
        from benchmarks.turntaking import headline as turn_taking

        lines += turn_taking(tt)
    inproc = lat.get("appliance-thread", {})
    pair("Voice-to-voice p50, models in worker processes against in process", "isolation_v2v_p50",
         ours.get("v2v_p50_ms"), inproc.get("v2v_p50_ms"), "ms", other="in process")
    iso = (result.get("isolation") or {}).get("per_call", {})
    if iso:
        lines.append("Added per model call by the worker process (median): " + ", ".join(
            f"{k} {v['added_us']:g} µs ({v['in_process_us']:g} → {v['worker_us']:g})" for k, v in iso.items()))
    enc = result.get("encrypted")
    if enc:
        ratios["encrypted_v2v_p50"], ratios["encrypted_v2v_p95"] = enc.get("ratio_p50"), enc.get("ratio_p95")
        lines.append(f"Voice-to-voice over SIP/TLS + SRTP against UDP + RTP: p50 {enc.get('encrypted_p50_ms')} ms vs "
                     f"{enc.get('plain_p50_ms')} ms (ratio {enc.get('ratio_p50')}), p95 {enc.get('encrypted_p95_ms')} "
                     f"ms vs {enc.get('plain_p95_ms')} ms (ratio {enc.get('ratio_p95')}); "
                     f"{enc.get('encrypted_turns')} turns encrypted, {enc.get('plain_turns')} plain")
    st = result.get("startup", {})
    pair("Start-up to ready", "startup", st.get("appliance_s"), st.get("baseline_s"), "s")
    pair("CPU time per call", "cpu_per_call", ours.get("cpu_s_per_call"), base.get("cpu_s_per_call"), "s")
    pair("Peak RSS", "peak_rss", ours.get("peak_rss_mib"), base.get("peak_rss_mib"), "MiB")
    if base.get("no_reply_turns"):
        lines.append(f"Baseline turns without any reply: {base['no_reply_turns']} of {len(base.get('turns', []))} "
                     "(left out of its latency figures)")
    conc = result.get("concurrency")
    if conc:
        lines.append(f"Concurrent calls with p95 within {conc['target_ms']:g} ms: {conc['max_calls_within_target']} "
                     f"(levels run: {', '.join(str(r['calls']) for r in conc['rows'])})")
    asr = result.get("asr")
    if asr:
        c = asr["conditions"].get("clinic_vocabulary", {})
        lines.append(f"ASR with the clinic vocabulary: WER {c.get('wer', 0):.1%}, product names "
                     f"{c.get('product_name_accuracy', 0):.0%} ({asr['utterances']} telephone-band utterances)")
    result["ratios"] = ratios
    return lines


def summary(result: dict[str, Any]) -> str:
    lines = ["# Benchmark summary", ""]
    m = result.get("machine", {})
    if m:
        lines += [f"Machine: {m.get('cpus')} CPUs, {m.get('memory_gib')} GiB, {m.get('platform')}; "
                  f"load average {m.get('load_avg_start')} at the start, {m.get('load_avg_end')} at the end; "
                  f"run {result.get('started_at', '')} ({result.get('duration_s')} s); "
                  f"command `{result.get('command', '')}`.", ""]
    for line in result.get("headline", []):
        lines.append(f"- {line}")
    if result.get("headline"):
        lines.append("")
    lat = result.get("latency", {})
    if lat:
        lines += ["## Voice-to-voice latency (ms, on the wire)", "",
                  "| pipeline | turns | p50 | p90 | p95 | max | no reply | talked over | first word |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, data in lat.items():
            v = [t["v2v_ms"] for t in data.get("turns", []) if t.get("v2v_ms") is not None]
            lines.append(f"| {name} | {len(v)} | {pct(v, 50)} | {pct(v, 90)} | {pct(v, 95)} | "
                         f"{round(max(v), 1) if v else None} | {data.get('no_reply_turns', 0)} | "
                         f"{data.get('talked_over_turns', 0)} | {data.get('first_word_ms')} |")
        lines += ["", "Median per stage (ms; `out` = playout queue, transport and wire):", "",
                  "| pipeline | " + " | ".join(s.removesuffix("_ms") for s in STAGES) + " |",
                  "|---|" + "---|" * len(STAGES)]
        for name, data in lat.items():
            m = data.get("stage_medians", {})
            lines.append(f"| {name} | " + " | ".join(str(m.get(s, "")) for s in STAGES) + " |")
        fl = result.get("floor")
        if fl:
            lines.append(f"| floor | {fl['endpointing_ms']} | {fl['asr_ms']} | 0 | {fl['tts_first_audio_ms']} | "
                         f"{fl['packetisation_ms']} |")
        lines.append("")
    for key, title in (("isolation", "Isolation: one model call in process and through its worker (µs)"),
                       ("floor", "Physical floor"), ("barge_in", "Barge-in reaction (ms)"),
                       ("turn_taking", "Turn-taking: barge-ins, back-channels, the agent's own audio fed back"),
                       ("startup", "Start-up")):
        if result.get(key):
            lines += [f"## {title}", "", "```json", json.dumps(result[key], indent=2), "```", ""]
    lines += _encrypted(result.get("encrypted"))
    res = {name: {k: data.get(k) for k in ("cpu_s_per_call", "peak_rss_mib")} for name, data in lat.items()}
    if res:
        lines += ["## Resources per call (latency calls)", "", "```json", json.dumps(res, indent=2), "```", ""]
    if result.get("concurrency"):
        c = result["concurrency"]
        lines += [f"## Concurrency (script `{c.get('script')}`, target {c['target_ms']} ms p95)", "",
                  "| calls | turns | p50 | p95 | CPU s per call | peak RSS MiB |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['calls']} | {r['turns']} | {r['p50_ms']} | {r['p95_ms']} | {r.get('cpu_s_per_call')} | "
                  f"{r.get('peak_rss_mib')} |" for r in c["rows"]]
        lines.append("")
    asr = result.get("asr")
    if asr:
        lines += [f"## ASR accuracy ({asr['utterances']} telephone-band utterances)", "",
                  "| condition | WER | product names right | median ASR s | WER by voice |", "|---|---|---|---|---|"]
        for cond, r in asr["conditions"].items():
            by_voice = ", ".join(f"{v} {w:.1%}" for v, w in r.get("wer_by_voice", {}).items())
            lines.append(f"| {cond} | {r['wer']:.1%} | {r['product_name_accuracy']:.0%} of {r['product_names']} | "
                         f"{r['median_asr_s']} | {by_voice} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _encrypted(enc: dict[str, Any] | None) -> list[str]:
    """The plain vs encrypted section of summary.md (absent with --no-encrypted)."""
    if not enc:
        return []
    pk = enc.get("srtp_packets", {})
    setup = enc.get("call_setup_ms", {})
    return ["## Encrypted calls: SIP over TLS, SRTP required (same run)", "",
            "The appliance started once more with `[sip] transport = \"tls\"`, `srtp = \"required\"` and the same "
            "latency scripts once through it; plain = the appliance's latency calls above (UDP, RTP).", "",
            "| | plain (UDP, RTP) | encrypted (TLS, SRTP) | ratio (encrypted / plain) |", "|---|---|---|---|",
            f"| voice-to-voice p50 (ms) | {enc.get('plain_p50_ms')} | {enc.get('encrypted_p50_ms')} | "
            f"**{enc.get('ratio_p50')}** |",
            f"| voice-to-voice p95 (ms) | {enc.get('plain_p95_ms')} | {enc.get('encrypted_p95_ms')} | "
            f"**{enc.get('ratio_p95')}** |",
            f"| turns | {enc.get('plain_turns')} | {enc.get('encrypted_turns')} | |",
            f"| call set-up, INVITE to 200 (ms, p50) | {setup.get('plain')} | {setup.get('encrypted')} | |", "",
            f"TLS: {', '.join(enc.get('tls', []))}; SRTP packets the caller protected {pk.get('protected')}, "
            f"decrypted {pk.get('unprotected')}, refused {pk.get('failed')}."
            + (f" libsrtp per 20 ms packet on this machine (median): protect {cost['protect_us']} µs, unprotect "
               f"{cost['unprotect_us']} µs." if (cost := enc.get("srtp_crypto_us_per_packet")) else ""), ""]
