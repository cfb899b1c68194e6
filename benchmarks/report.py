"""Turn a benchmark result (a dict, saved as JSON) into PNG plots and a markdown summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

STAGES = ("endpointing_ms", "asr_ms", "llm_first_token_ms", "tts_first_audio_ms", "playout_ms")


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


def plot_stages(stages: dict[str, dict[str, float]], path: Path) -> None:
    """Stacked bars of the median time per stage, one bar per pipeline (ours, floor, ...)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    labels = list(stages)
    bottom = np.zeros(len(labels))
    for stage in STAGES:
        vals = np.array([stages[label].get(stage, 0.0) or 0.0 for label in labels])
        if not vals.any():
            continue
        ax.bar(labels, vals, bottom=bottom, label=stage.removesuffix("_ms").replace("_", " "))
        bottom += vals
    ax.set_ylabel("median ms")
    ax.set_title("Where the time goes (median per stage)")
    ax.legend(fontsize=8)
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
    ax.set_ylabel("voice-to-voice latency (ms)")
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
        if stages:
            plot_stages(stages, out / "stages.png")
            files.append(out / "stages.png")
    if result.get("concurrency"):
        plot_concurrency(result["concurrency"]["rows"], result["concurrency"]["target_ms"], out / "concurrency.png")
        files.append(out / "concurrency.png")
    (out / "summary.md").write_text(summary(result))
    files.append(out / "summary.md")
    return files


def summary(result: dict[str, Any]) -> str:
    lines = ["# Benchmark summary", ""]
    m = result.get("machine", {})
    if m:
        lines += [f"Machine: {m.get('cpus')} CPUs, {m.get('memory_gib')} GiB, {m.get('platform')}; "
                  f"run {result.get('started_at', '')}; command `{result.get('command', '')}`.", ""]
    for line in result.get("headline", []):
        lines.append(f"- {line}")
    if result.get("headline"):
        lines.append("")
    lat = result.get("latency", {})
    if lat:
        lines += ["## Voice-to-voice latency (ms, on the wire)", "", "| pipeline | turns | p50 | p90 | max |",
                  "|---|---|---|---|---|"]
        for name, data in lat.items():
            v = [t["v2v_ms"] for t in data.get("turns", []) if t.get("v2v_ms") is not None]
            lines.append(f"| {name} | {len(v)} | {pct(v, 50)} | {pct(v, 90)} | {round(max(v), 1) if v else None} |")
        lines.append("")
    for key, title in (("barge_in", "Barge-in reaction (ms)"), ("resources", "Resources"), ("startup", "Start-up")):
        if result.get(key):
            lines += [f"## {title}", "", "```json", json.dumps(result[key], indent=2), "```", ""]
    if result.get("concurrency"):
        c = result["concurrency"]
        lines += [f"## Concurrency (target {c['target_ms']} ms p95)", "", "| calls | p50 | p95 | turns without reply |",
                  "|---|---|---|---|"]
        lines += [f"| {r['calls']} | {r['p50_ms']} | {r['p95_ms']} | {r.get('missing', 0)} |" for r in c["rows"]]
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
