"""The red-flag safety corpus spoken through the real speech pipeline: voice → G.711 → Whisper → rules.

Each turn of tests/clinic/corpus/redflags.yaml (155 with a flag the pack demands, 37 that must not
fire) is spoken by three caller voices: the bundled Piper voice pitch-shifted up (so the caller is
not the appliance's own voice) and two espeak-ng voices. The speech is band-limited and taken
through an 8 kHz G.711 µ-law round trip as on a phone call, transcribed by the appliance's own
`Transcriber` (Whisper tiny.en with the clinic vocabulary, the same `hear()` a call uses, with its
confidence), and the transcript is given, with that confidence, to the real ClinicConversation or
OutboundAftercareCall in the turn's state (the corpus test's own set-up, imported).

Recall by voice = the flagged turns escalated at least at the severity the pack demands, at the
turn or, when the turn got the approved confirmation question (a symptom heard unsure, or found
only by the second listen), after the caller's "yes" to it; both are counted apart. The second
listen runs as on a call: a turn heard with confidence below `[voice] second_listen_below` is
heard again by Whisper with the symptom words in the prompt and by the second recogniser
(Moonshine base); `--second-listen-below 0` turns it off, `--no-second-recogniser` and
`--no-symptom-prompt` each leave one hearing out.
Turns the corpus writes as a transcriber's mistake (`why: ASR ...`) are spoken as the caller said them (their `said`).

    python -m benchmarks.redflags_voice                    # all 192 turns x 3 voices (about 10 minutes)
    python -m benchmarks.redflags_voice --sample           # the 27-turn sample x 3 voices (pytest: Piper and en-us)
    python -m benchmarks.redflags_voice --out DIR --voices piper,en-us

Writes DIR/redflags_voice.json (default DIR: benchmarks/results); the clips are cached in DIR/tmp/.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VOICES: tuple[str, ...] = ("piper", "en-us", "en-gb")
"""`piper`: the bundled Piper voice shifted up by PIPER_PITCH_CENTS (a caller, not the appliance's
own voice); `en-us`, `en-gb`: espeak-ng voices (robotic, a hard case for Whisper tiny)."""
PIPER_PITCH_CENTS = 300  # three semitones up
ESPEAK_WPM = 160
BAR = 0.98  # recall by voice, at the severity the pack demands

def spoken(turn: dict[str, Any]) -> str:
    """What the caller's voice says: the corpus's `said` when its `say` is a transcriber's mistake."""
    return str(turn.get("said") or turn["say"])

SAMPLE: tuple[str, ...] = (
    # every emergency sign of the demo pack's general flags, the issue-14 turns, a few negations
    "Hi, um, I had microneedling this afternoon and my face is really swollen, I'm getting hives on my neck and my "
    "throat feels tight.",
    "I can't see properly out of my left eye since this morning, everything is blurry.",
    "sorry, I'm, I'm struggling to breathe a bit",
    "my tongue feels really thick and swollen",
    "my lips are swelling up and I've got these itchy welts on my arms",
    "there's like a white patch on my lip, it looks kind of mottled",
    "the skin by my nose has gone a sort of grey colour",
    "part of my chin looks dusky and blotchy",
    "there's a blue-ish lacy pattern on my forehead",
    "I've got chest pain since the injection",
    "I fainted in the car park after I left",
    "I'm seeing double since the filler",
    "I got buttocks on Monday and now it's hard to swallow",
    "I think I'm having an allergic reaction",
    "my speech is slurred and my face is drooping on one side",
    "words are coming out wrong and my arm is weak",
    "I've got a seizure history and I just had one",
    "there's an eye pain since the IPL",
    "yeah, actually my lips are blanching",
    "it's Maya Cruz, I can't breathe properly",
    "Hello, I had laser hair removal on my legs yesterday. Some of the spots turned into big blisters and the skin is "
    "coming off.",
    "the lump on the left side is getting bigger, it's hot and it throbs",
    "no blurry vision, no fever, nothing like that",
    "my vision is fine, thanks",
    "I'm not having any trouble breathing, I just had a question",
    "no chest pain or anything, just wanted to book",
    "I'd like to book Botox for my forehead",
)


# ---- caller audio ----------------------------------------------------------------------------

def caller_speech(text: str, out: Path, voice: str) -> Path:
    """`text` spoken by `voice`, band-limited to 8 kHz, through a G.711 µ-law round trip (16-bit WAV)."""
    from benchmarks.corpus import _piper

    raw = out.with_suffix(".raw.wav")
    ulaw = out.with_suffix(".ulaw.wav")
    effects: list[str] = []
    if voice == "piper":
        _piper(text, raw)
        effects = ["pitch", str(PIPER_PITCH_CENTS)]
    else:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(ESPEAK_WPM), "-w", str(raw), text], check=True,
                       timeout=60)
    # sox band-limits when it resamples to 8 kHz (its rate effect filters below 4 kHz)
    subprocess.run(["sox", "-V1", str(raw), "-r", "8000", "-c", "1", "-e", "u-law", str(ulaw), *effects],
                   check=True, timeout=60)
    subprocess.run(["sox", "-V1", str(ulaw), "-e", "signed-integer", "-b", "16", str(out)], check=True, timeout=60)
    raw.unlink()
    ulaw.unlink()
    return out


def clip_for(folder: Path, text: str, voice: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{voice}|{PIPER_PITCH_CENTS}|{ESPEAK_WPM}|{text}".encode()).hexdigest()[:16]
    path = folder / f"{voice.replace('+', '_')}-{key}.wav"
    if not path.exists():
        tmp = path.with_name("part-" + path.name)
        caller_speech(text, tmp, voice)
        tmp.replace(path)
    return path


# ---- the pipeline: Whisper as a call runs it, then the conversation in the turn's state -------

def bundled(role: str) -> Any:
    """The role's engine over its bundled model, as the appliance loads it in process."""
    from appliance.config import Settings
    from appliance.models.resolver import resolve_all
    from appliance.voice.engines import load_engine

    settings = Settings()
    return load_engine(role, resolve_all(settings, (role,))[role], settings)  # type: ignore[arg-type]


def transcriber() -> Any:
    return bundled("asr")  # Whisper with the site's vocabulary


def relistener() -> Any:
    return bundled("relisten")  # the second listen's recogniser (Moonshine)


def corpus_turns(sample: bool = False) -> list[dict[str, Any]]:
    from tests.clinic.test_redflags_corpus import _turns

    turns = _turns()
    if not sample:
        return turns
    by_say = {t["say"]: t for t in turns}
    missing = [s for s in SAMPLE if s not in by_say]
    if missing:
        raise ValueError(f"sample turns not in the corpus (was it edited?): {missing}")
    return [by_say[s] for s in SAMPLE]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def methods_of(evidence: str) -> list[str]:
    """The matching methods an escalation's evidence names ("second-listen" when its words came from it)."""
    return ["second-listen"] * evidence.count("second listen") + re.findall(r"(\w+) match of", evidence)


def second_listen(below: float | None = None, other: Any = None, prompted: bool = True) -> Any:
    """The call's `SecondListen` (the appliance's setting, or `below`) with `other` as its second
    recogniser (None: none) and the symptom-prompted pass unless `prompted` is false; None when off."""
    from appliance.config import VoiceSettings
    from appliance.voice.processors.transcription import SecondListen

    vs = VoiceSettings() if below is None else VoiceSettings(second_listen_below=below)
    if not prompted:
        vs = vs.model_copy(update={"symptom_words": ""})
    return SecondListen.of(vs, other)


async def hear_turn(asr: Any, turn: dict[str, Any], voice: str, path: Path, listen: Any) -> dict[str, Any]:
    from benchmarks.corpus import read_wav

    pcm, rate = read_wav(path)
    assert rate == 8000, path
    audio = pcm.astype("<i2").tobytes()
    heard = await asyncio.to_thread(asr.hear, audio)
    again = other = None
    if listen is not None and listen.unsure(heard.confidence):  # as the Transcription processor does
        if listen.vocabulary:
            again = (await asyncio.to_thread(asr.hear, audio, listen.vocabulary)).text
        if listen.other is not None:
            other = (await asyncio.to_thread(listen.other.hear, audio)).text
    return await judge(turn, voice, heard.text, heard.confidence, again, listen, other)


async def judge(turn: dict[str, Any], voice: str, heard: str, confidence: float | None,
                heard_again: str | None = None, listen: Any = None, heard_other: str | None = None) -> dict[str, Any]:
    """What the transcript, with the ASR's confidence (and the second listen's words, when `listen`
    would have heard the turn again: `heard_again` by Whisper with the symptom words, `heard_other`
    by the second recogniser), raises in the turn's state; a confirmation question is answered "yes"."""
    from appliance.clinic.redflags import SEVERITY_RANK
    from tests.clinic.test_redflags_corpus import confirmed, speak

    unsure = listen is not None and listen.unsure(confidence)
    hearings = [h for h, used in ((heard_again, bool(listen and listen.vocabulary)), (heard_other, True))
                if used and h is not None]  # a stored run's second recogniser counts where it heard
    also = listen.also_heard(heard, *hearings) if unsure and hearings else None
    result = await speak({**turn, "say": heard}, confidence=confidence, also_heard=also)
    said = spoken(turn)
    expect = turn["expect"]
    caught = after_yes = None
    at_turn = expect != "none" and result.severity is not None and SEVERITY_RANK[result.severity] >= SEVERITY_RANK[expect]
    evidence = result.evidence
    if result.confirming:
        after_yes, yes_evidence = await confirmed(result)
        evidence = "; ".join(e for e in (evidence, yes_evidence) if e)
    if expect != "none":
        caught = at_turn or (after_yes is not None and SEVERITY_RANK[after_yes] >= SEVERITY_RANK[expect])
    return {
        "voice": voice, "say": turn["say"], "spoken": said, "heard": heard, "confidence": confidence,
        "heard_again": heard_again, "heard_other": heard_other, "second_listen": also is not None,
        "state": turn["state"], "caller": turn["caller"], "expect": expect, "severity": result.severity,
        "confirmation": result.confirming, "severity_after_yes": after_yes,
        "caught": caught, "caught_after_confirmation": bool(caught and not at_turn),
        "false_alarm": expect == "none" and bool(result.evidence),
        "false_confirmation": expect == "none" and result.confirming,
        "misheard": _words(said) != _words(heard), "evidence": evidence,
        "methods": methods_of(evidence),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def block(sub: list[dict[str, Any]]) -> dict[str, Any]:
        flagged = [r for r in sub if r["expect"] != "none"]
        negatives = [r for r in sub if r["expect"] == "none"]
        caught = sum(1 for r in flagged if r["caught"])
        by_sev = {}
        for sev in ("emergency", "urgent", "routine"):
            s = [r for r in flagged if r["expect"] == sev]
            by_sev[sev] = f"{sum(1 for r in s if r['caught'])}/{len(s)}"
        return {
            "turns": len(sub), "flagged": len(flagged), "caught": caught,
            "recall": round(caught / len(flagged), 4) if flagged else None, "recall_by_severity": by_sev,
            "caught_after_confirmation": sum(1 for r in flagged if r.get("caught_after_confirmation")),
            "second_listens": sum(1 for r in sub if r.get("second_listen")),
            "negatives": len(negatives), "false_alarms": sum(1 for r in negatives if r["false_alarm"]),
            "false_confirmations": sum(1 for r in negatives if r.get("false_confirmation")),
            "misheard": sum(1 for r in sub if r["misheard"]),
            "misheard_flagged_caught": sum(1 for r in flagged if r["misheard"] and r["caught"]),
            "methods": dict(Counter(m for r in flagged if r["caught"] for m in r["methods"])),
            "misheard_methods": dict(Counter(m for r in flagged if r["caught"] and r["misheard"]
                                             for m in r["methods"])),
            "confidence_median": _median([r["confidence"] for r in sub if r["confidence"] is not None]),
        }

    voices = list(dict.fromkeys(r["voice"] for r in rows))
    return {"all": block(rows), "by_voice": {v: block([r for r in rows if r["voice"] == v]) for v in voices}}


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round((s[len(s) // 2] + s[(len(s) - 1) // 2]) / 2, 3)


async def sweep(turns: list[dict[str, Any]], voices: tuple[str, ...], clips: Path, asr: Any,
                progress: Any = None, listen: Any = None) -> list[dict[str, Any]]:
    rows = []
    for voice in voices:
        for turn in turns:
            path = await asyncio.to_thread(clip_for, clips, spoken(turn), voice)
            rows.append(await hear_turn(asr, turn, voice, path, listen))
            if progress:
                progress(rows[-1])
    return rows


async def rescore(previous: dict[str, Any], listen: Any = None) -> list[dict[str, Any]]:
    """The previous run's transcripts (same audio, same Whisper) judged again by today's rules and
    lexicon; the second listen's words where the run kept them (for the turns `listen` hears again)."""
    turns = {t["say"]: t for t in corpus_turns()}
    return [await judge(turns[r["say"]], r["voice"], r["heard"], r["confidence"], r.get("heard_again"), listen,
                        r.get("heard_other")) for r in previous["rows"] if r["say"] in turns]


def run(workdir: Path, voices: tuple[str, ...] = VOICES, sample: bool = False, asr: Any = None,
        progress: Any = None, below: float | None = None, relisten: Any = None, second_recogniser: bool = True,
        prompted: bool = True) -> dict[str, Any]:
    """The sweep; returns the result document (summary, per-turn rows, misses, false alarms).
    `relisten`: the second recogniser (default: the bundled one, unless `second_recogniser` is off);
    `prompted`: whether Whisper also hears unsure turns with the symptom words."""
    for tool in ("sox", *(["espeak-ng"] if any(v != "piper" for v in voices) else [])):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} is needed (provisioning/apt-test.txt)")
    t0 = time.monotonic()
    turns = corpus_turns(sample)
    asr = asr or transcriber()
    other = (relisten or relistener()) if second_recogniser else None
    listen = second_listen(below, other, prompted)  # below None: the appliance's setting
    rows = asyncio.run(sweep(turns, voices, workdir / "redflags-clips", asr, progress, listen))
    return document(rows, voices, sample, time.monotonic() - t0, listen)


def document(rows: list[dict[str, Any]], voices: tuple[str, ...], sample: bool, seconds: float,
             listen: Any = None) -> dict[str, Any]:
    summary = summarise(rows)
    return {
        "second_listen_below": listen.below if listen else 0.0,
        "second_listen_vocabulary": listen.vocabulary if listen else None,
        "second_recogniser": type(listen.other).__name__ if listen and listen.other is not None else None,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "what": f"red-flag corpus spoken (Piper +{PIPER_PITCH_CENTS} cents, espeak-ng {ESPEAK_WPM} wpm) through "
                "8 kHz G.711, Whisper Transcriber.hear, ClinicConversation/OutboundAftercareCall in the turn's "
                "state with the ASR confidence",
        "sample": sample, "voices": list(voices), "bar": BAR, "duration_s": round(seconds, 1),
        "summary": summary,
        "misses": [r for r in rows if r["caught"] is False],
        "false_alarms": [r for r in rows if r["false_alarm"]],
        "misheard_caught": [r for r in rows if r["misheard"] and r["caught"]],
        "rows": rows,
    }


def write(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("redflags_voice_sample.json" if result["sample"] else "redflags_voice.json")
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return path


def headline(result: dict[str, Any]) -> list[str]:
    lines = []
    for voice, b in [*result["summary"]["by_voice"].items(), ("all", result["summary"]["all"])]:
        lines.append(f"{voice:>6}: recall {b['caught']}/{b['flagged']} = {b['recall']:.1%} "
                     f"({', '.join(f'{k} {v}' for k, v in b['recall_by_severity'].items())}); "
                     f"{b['caught_after_confirmation']} after a confirmation; second listens {b['second_listens']}; "
                     f"false alarms {b['false_alarms']}/{b['negatives']} (+{b['false_confirmations']} confirmation "
                     f"questions); misheard {b['misheard']}/{b['turns']} "
                     f"({b['misheard_flagged_caught']} flagged ones still caught)")
    for r in result["misses"]:
        lines.append(f"  MISSED [{r['voice']}] {r['expect']}: said {r['spoken']!r} heard {r['heard']!r} "
                     f"(conf {r['confidence']}) -> {r['severity']}")
    for r in result["false_alarms"]:
        lines.append(f"  false alarm [{r['voice']}]: heard {r['heard']!r}: {r['evidence']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.redflags_voice", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                   help="writes OUT/redflags_voice.json (clips cached in OUT/tmp/)")
    p.add_argument("--sample", action="store_true", help=f"only the {len(SAMPLE)}-turn sample the tests use")
    p.add_argument("--rescore", type=Path, default=None,
                   help="judge the transcripts of a previous result JSON again (after a lexicon change); no audio")
    p.add_argument("--voices", default=",".join(VOICES), help=f"comma-separated (default {','.join(VOICES)})")
    p.add_argument("--second-listen-below", type=float, default=None,
                   help="hear a turn again with the symptom words below this confidence (default: the appliance's "
                        "[voice] second_listen_below; 0: off)")
    p.add_argument("--no-second-recogniser", action="store_true",
                   help="the second listen without the second recogniser (Moonshine): Whisper's prompted pass only")
    p.add_argument("--no-symptom-prompt", action="store_true",
                   help="the second listen without Whisper's symptom-prompted pass: the second recogniser only")
    a = p.parse_args(argv)
    listen = second_listen(a.second_listen_below, prompted=not a.no_symptom_prompt)
    voices = tuple(v.strip() for v in a.voices.split(",") if v.strip())
    done = [0]

    def progress(row: dict[str, Any]) -> None:
        done[0] += 1
        if done[0] % 25 == 0:
            print(f"[redflags-voice] {done[0]} turns heard", file=sys.stderr, flush=True)

    if a.rescore:
        previous = json.loads(a.rescore.read_text(encoding="utf-8"))
        t0 = time.monotonic()
        rows = asyncio.run(rescore(previous, listen))
        result = document(rows, tuple(previous["voices"]), previous["sample"], time.monotonic() - t0, listen)
        result["rescored_from"] = {"file": str(a.rescore), "started_at": previous["started_at"]}
    else:
        result = run(a.out / "tmp", voices, a.sample, progress=progress, below=a.second_listen_below,
                     second_recogniser=not a.no_second_recogniser, prompted=not a.no_symptom_prompt)
    path = write(result, a.out)
    print("\n".join(headline(result)))
    print(f"wrote {path}")
    below = [v for v, b in result["summary"]["by_voice"].items() if b["recall"] is not None and b["recall"] < BAR]
    if below:
        print(f"recall by voice below {BAR:.0%}: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
