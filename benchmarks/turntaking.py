"""Turn-taking on the wire: barge-ins, back-channels and the agent's own voice fed back.

Three kinds of call, with the reactive SIP caller (`benchmarks.dialogue`):

- barge-ins: after "Hi, I'm a new patient.", sixteen questions each spoken 1 s into the agent's
  reply to the one before, inside a phrase; reaction = the caller's first speech packet sent ->
  the agent's last speech packet before it fell silent (for 600 ms), counted where the agent was
  still talking 100-200 ms after the caller began (sooner than any reaction: else it was its own
  pause or the reply's end; sixteen leave at least ten counted);
- back-channels: ten questions, each followed 1.2 s into its reply by "okay", "yeah", "right"...;
  on the wire, whether the agent's audio paused (600 ms of silence within 2 s) and for how
  long; in the appliance's own log, whether a reply was given up (`voice.barge_in`: a false
  stop) or held and resumed (`voice.hold_released`, why = backchannel);
- echo: the caller is a speakerphone without echo control (`RtpEndpoint.echo_db`), feeding the
  agent's audio back 60 ms later at -20 dB and at -10 dB while it asks three questions; a false
  stop is any hold or barge-in in the appliance's log, or a caller turn more than it spoke.

Back-channel and echo outcomes come from the appliance's log; the stock Pipecat baseline has no
such log and no echo control, so it gets the barge-ins and the back-channels' wire figures only.
"""

from __future__ import annotations

from typing import Any

from benchmarks.dialogue import CallResult, Timing, run_call
from benchmarks.report import pct
from benchmarks.scripts import Clip, Script, Step
from benchmarks.targets import Appliance, Baseline, Target

QUESTIONS = ("Sorry, how much does Botox cost for the forehead lines?", "Wait, how much is lip filler?",
             "Sorry, how much is a chemical peel?", "Hang on, how much is microneedling?",
             "Sorry, how much is laser hair removal?")
# Piper, the caller's voice, cannot say "mm-hm" or "uh-huh" (it reads out letters: Whisper hears
# "and then make some", "I hope"), so the back-channels are the words it does say.
BACKCHANNELS = ("Okay.", "Yeah.", "Right.", "Sure.", "I see.")
ROUNDS = 10  # back-channels
BARGE_ROUNDS = 16  # questions cut in with: at least 10 land while the agent is still talking
ECHO_DB = (-20.0, -10.0)



def _plain(question: str) -> str:
    """The question without its "Sorry, " opener: asked when the agent is not talking."""
    rest = question.split(", ", 1)[1]
    return rest[0].upper() + rest[1:]


BARGE_INS = Script("barge-ins", (Step("Hi, I'm a new patient."),
                                 *(Step(QUESTIONS[i % len(QUESTIONS)], barge_in=True) for i in range(BARGE_ROUNDS))))
BACK_CHANNELS = Script("back-channels", tuple(
    step for i in range(ROUNDS) for step in (Step(_plain(QUESTIONS[i % len(QUESTIONS)])),
                                             Step(BACKCHANNELS[i % len(BACKCHANNELS)], barge_in=True,
                                                  barge_after_s=1.2))))
ECHO = Script("echo", (Step("Hi, I'm a new patient."), *(Step(_plain(q)) for q in QUESTIONS[:3])))
SCRIPTS = (BARGE_INS, BACK_CHANNELS, ECHO)
PAUSE_WINDOW_S = 2.0  # a back-channel that silences the agent within this long paused it


def _call(target: Target, script: Script, clips: dict[str, Clip], timing: Timing,
          echo_db: float | None = None) -> CallResult:
    ready = (lambda cid: target.call_ready(cid, 60)) if isinstance(target, Baseline) else None
    return run_call(target.name, target.sip_port, script, clips, greets=target.greets, timing=timing, strict=False,
                    on_answer=ready, echo_db=echo_db)


def _log(target: Target, call: CallResult, event: str) -> list[dict[str, Any]]:
    if not isinstance(target, Appliance):
        return []
    return target.process.select(event, lambda e: e.get("call_id") == call.call_id)


def barge_ins(target: Target, clips: dict[str, Clip], timing: Timing) -> dict[str, Any]:
    call = _call(target, BARGE_INS, clips, timing)
    steps = [t for t in call.turns if BARGE_INS.steps[t.turn].barge_in]
    valid = [t.barge_in_ms for t in steps if t.barge_valid and t.barge_in_ms is not None]
    return {"spoken": len(steps), "over_the_agent": len(valid), "p50_ms": pct(valid, 50),
            "p95_ms": pct(valid, 95), "reactions_ms": [round(v, 1) for v in valid]}


def back_channels(target: Target, clips: dict[str, Clip], timing: Timing) -> dict[str, Any]:
    call = _call(target, BACK_CHANNELS, clips, timing)
    steps = [t for t in call.turns if BACK_CHANNELS.steps[t.turn].barge_in]
    over = [t for t in steps if t.barge_valid]
    paused = [t for t in over if t.barge_in_ms is not None and t.barge_in_ms <= PAUSE_WINDOW_S * 1000]
    out: dict[str, Any] = {"spoken": len(steps), "over_the_agent": len(over), "paused_on_the_wire": len(paused)}
    if isinstance(target, Appliance):
        released = _log(target, call, "voice.hold_released")
        heard = _log(target, call, "voice.utterance")
        out.update({
            "false_stops": len(_log(target, call, "voice.barge_in")),  # a reply given up for a back-channel
            "held_then_resumed": sum(1 for e in released if e.get("why") == "backchannel"),
            "hold_ms_p50": pct([float(e["held_ms"]) for e in released if e.get("held_ms") is not None], 50),
            # each caller utterance as the appliance judged it (verdict, transcript length): a
            # back-channel taken as a turn shows as "interrupt" with its length
            "utterances": [[e.get("verdict"), e.get("chars")] for e in heard],
        })
    return out


def echo(target: Appliance, clips: dict[str, Clip], timing: Timing, level_db: float) -> dict[str, Any]:
    call = _call(target, ECHO, clips, timing, echo_db=level_db)
    heard = [e for e in _log(target, call, "voice.utterance") if e.get("verdict") == "turn"]
    holds, cuts = _log(target, call, "voice.hold"), _log(target, call, "voice.barge_in")
    replies = [t for t in call.turns if not t.no_reply]
    return {"level_db": level_db, "questions": len(ECHO.steps), "replied": len(replies),
            "holds": len(holds), "barge_ins": len(cuts), "caller_turns_heard": len(heard),
            "false_stops": len(holds) + len(cuts) + max(0, len(heard) - len(ECHO.steps))}


def run(lineup: list[Target], clips: dict[str, Clip], timing: Timing, step: Any) -> dict[str, Any]:
    """Every kind of call against each target (`step(label)` reports progress)."""
    out: dict[str, Any] = {"rounds": ROUNDS, "barge_in_rounds": BARGE_ROUNDS}
    for target in lineup:
        step(f"{target.name}: {BARGE_ROUNDS} barge-ins")
        row: dict[str, Any] = {"barge_in": barge_ins(target, clips, timing)}
        step(f"{target.name}: {ROUNDS} back-channels")
        row["back_channels"] = back_channels(target, clips, timing)
        if isinstance(target, Appliance):
            row["echo"] = []
            for level in ECHO_DB:
                step(f"{target.name}: its own audio fed back at {level:g} dB")
                row["echo"].append(echo(target, clips, timing, level))
        out[target.name] = row
    ours, base = out.get("appliance", {}), out.get("baseline", {})
    a, b = (ours.get("barge_in") or {}).get("p50_ms"), (base.get("barge_in") or {}).get("p50_ms")
    out["barge_in_ratio_p50"] = round(a / b, 2) if a and b else None
    return out


def headline(tt: dict[str, Any]) -> list[str]:
    ours, base = tt.get("appliance", {}), tt.get("baseline", {})
    bi, bb = ours.get("barge_in", {}), base.get("barge_in", {})
    lines = [f"Barge-in over {bi.get('over_the_agent')} interruptions: p50 {bi.get('p50_ms')} ms, "
             f"p95 {bi.get('p95_ms')} ms (baseline p50 {bb.get('p50_ms')} ms over {bb.get('over_the_agent')}; "
             f"ratio {tt.get('barge_in_ratio_p50')})"]
    bc = ours.get("back_channels", {})
    lines.append(f"Back-channels over the agent: {bc.get('over_the_agent')} of {bc.get('spoken')}; false stops "
                 f"{bc.get('false_stops')}, held then resumed {bc.get('held_then_resumed')} "
                 f"(hold p50 {bc.get('hold_ms_p50')} ms); paused on the wire {bc.get('paused_on_the_wire')} "
                 f"(baseline paused {base.get('back_channels', {}).get('paused_on_the_wire')})")
    for e in ours.get("echo", []):
        lines.append(f"Own audio fed back at {e['level_db']:g} dB: {e['false_stops']} false stops "
                     f"({e['holds']} holds, {e['barge_ins']} barge-ins, {e['caller_turns_heard']} caller turns "
                     f"for {e['questions']} spoken)")
    return lines


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.turntaking [--no-baseline] [--out DIR]`: these calls alone (`make
    bench` runs them within the whole benchmark); writes DIR/turn_taking.json."""
    import argparse
    import json
    from pathlib import Path

    from benchmarks.scripts import clips_for

    p = argparse.ArgumentParser(prog="python -m benchmarks.turntaking")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = p.parse_args(argv)
    work = a.out / "tmp"
    clips = clips_for(list(SCRIPTS), work / "clips")
    targets: list[Target] = []
    try:
        targets.append(Appliance(work / "appliance"))
        if not a.no_baseline:
            targets.append(Baseline(work / "baseline"))
        for t in targets:  # one untimed call each: the first inference in a fresh process is slow
            _call(t, ECHO, clips, Timing())
        result = run(targets, clips, Timing(), lambda label: print(label, flush=True))
    finally:
        for t in targets:
            t.stop()
    (a.out / "turn_taking.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(headline(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
