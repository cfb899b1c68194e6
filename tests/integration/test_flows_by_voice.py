"""The clinic flows by voice: one real call per procedure family of the demo pack.

One `appliance run` (trunk mode on loopback, its own data folder) answers the benchmark's
reactive SIP caller, which speaks each script turn by turn (Piper speech through G.711) and waits
for the appliance's spoken reply every time; a turn without a reply fails the call. The calls run
two at a time (the appliance takes several calls). Afterwards the test reads what the appliance
stored in its encrypted database: the agent turns' provenance ids from the pack, escalations,
screen flags and the outcome. The flow is asserted exactly; what Whisper tiny heard is not.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks.dialogue import CallResult, Timing, run_call
from benchmarks.scripts import Script, Step, clips_for
from benchmarks.targets import LoggedProcess, rtp_range
from tests.conftest import free_port
from tests.telephony.conftest import free_udp_port

pytestmark = [pytest.mark.models, pytest.mark.slow]

PACK = "demo-clinic@2025.1#"
CALLS_AT_ONCE = 3
# The caller speaks first: one short greeting with an open question; new-or-returning is asked
# only when what the caller says does not settle it (docs/protocols.md, "How a call runs").
GREETING = "Thank you for calling Harbor Light Aesthetics. Automated assistant, recorded line. How can I help?"
# The answers say a little more than a bare "No.": Whisper tiny hears that as "Now." on some runs,
# which is by design never taken as a no (the question is asked again with the keypad; lexicon
# `heard_for_no`), and a script that does not repeat itself then answers the wrong questions.
SCRIPTS: dict[str, Script] = {s.name: s for s in (
    Script("neuromodulators", (Step("Hi, I'm a new patient."), Step("Botox, please."), Step("My forehead lines."),
                               Step("No, never."), Step("No, I'm not."), Step("No, I don't take any."),
                               Step("No, I don't."),
                               Step("About five hundred dollars."))),
    Script("dermal-fillers", (Step("Since my lip filler yesterday, my lip has turned white and it hurts a lot."),)),
    Script("lasers", (Step("Hi, I had laser hair removal yesterday."), Step("Can I shave between sessions?"))),
    Script("chemical-peels", (Step("Hi, I had a chemical peel three days ago and I'm worried about it."),
                              Step("My skin feels very dry and a little strange."))),
    Script("microneedling", (Step("Hi, I'm a new patient interested in microneedling."), Step("Yes."),
                             Step("No, I'm not."),
                             Step("Yes, I take warfarin."))),
)}


@dataclass
class Stored:
    """What the appliance recorded for one call."""

    outcome: str | None
    turns: list[tuple[str, str, str | None]]  # (speaker, text, provenance)
    escalations: list[tuple[str, str]]  # (severity, category)
    screen_flags: list[str]

    def provenance(self) -> list[str]:
        return [p.removeprefix(PACK) for s, _, p in self.turns if s == "agent" and p]


def _config(work: Path) -> Path:
    lo, hi = rtp_range()
    cfg = work / "appliance.toml"
    cfg.write_text(
        f'[paths]\ndata_dir = "{work / "var"}"\n\n'
        f'[sip]\nmode = "trunk"\nbind_port = {free_udp_port()}\nallowed_sources = ["127.0.0.1/32"]\n'
        f"max_calls = 8\nrtp_port_min = {lo}\nrtp_port_max = {hi}\n\n"
        f"[console]\nport = {free_port()}\n\n"
        '[logging]\nlevel = "info"\nformat = "json"\n')
    return cfg


def _sip_port(cfg: Path) -> int:
    from appliance.config import load_settings

    return load_settings(cfg).sip.bind_port


def _stored(var: Path, call_id: str) -> Stored:
    from appliance.records.db import connect
    from appliance.records.keys import read_key

    conn = connect(var / "appliance.db", read_key(var / "secrets" / "db.key"), create=False)
    try:
        row = conn.execute("SELECT id, outcome FROM calls WHERE pbx_call_id = ?", (call_id,)).fetchone()
        assert row is not None, f"no call record for {call_id}"
        cid = row[0]
        turns = [tuple(r) for r in conn.execute(
            "SELECT speaker, text, provenance FROM turns WHERE call_id = ? ORDER BY idx", (cid,))]
        escalations = [tuple(r) for r in conn.execute(
            "SELECT severity, category FROM escalations WHERE call_id = ? ORDER BY id", (cid,))]
        flags = [f for (raw,) in conn.execute("SELECT flags FROM screen_results WHERE call_id = ?", (cid,))
                 for f in json.loads(raw)]
        return Stored(row[1], turns, escalations, flags)  # type: ignore[arg-type]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stored | BaseException]:
    work = tmp_path_factory.mktemp("flows-by-voice")
    # Piper without its sampling noise: the same audio on every run, so the flow asserted below
    # does not hang on a random prosody that Whisper tiny mishears on some runs.
    clips = clips_for(list(SCRIPTS.values()), work / "clips", voice="piper-fixed")
    cfg = _config(work)
    app = LoggedProcess([sys.executable, "-m", "appliance", "--config", str(cfg), "run", "--no-progress"],
                        work / "appliance.log", events_on="stderr")
    results: dict[str, CallResult | BaseException] = {}
    timing = Timing(reply_timeout_s=60.0, listen_timeout_s=120.0)
    try:
        app.wait_event("appliance.ready", timeout=240)
        port = _sip_port(cfg)

        def one(name: str) -> None:
            try:
                r: CallResult | BaseException = run_call("appliance", port, SCRIPTS[name], clips, greets=True,
                                                         timing=timing)
            except BaseException as e:  # reported by that family's test
                r = e
            results[name] = r

        # Two lines busy at a time, as at a clinic: five concurrent callers on two shared cores
        # would measure load, not flows.
        with ThreadPoolExecutor(CALLS_AT_ONCE) as pool:
            list(pool.map(one, SCRIPTS))
        out: dict[str, Stored | BaseException] = {}
        for name in SCRIPTS:
            r = results.get(name, TimeoutError(f"{name}: the call did not finish within 240 s"))
            if isinstance(r, BaseException):
                out[name] = r
                continue
            app.wait_event("call.finished", timeout=60, where=lambda e, cid=r.call_id: e.get("call_id") == cid)
            assert len(r.turns) == len(SCRIPTS[name].steps)
            out[name] = _stored(work / "var", r.call_id)
        return out
    finally:
        app.stop()


def _call(calls: dict[str, Stored | BaseException], name: str) -> Stored:
    got = calls[name]
    if isinstance(got, BaseException):
        raise AssertionError(f"{name}: the call failed: {got}") from got
    callers = [t for t in got.turns if t[0] == "caller"]
    assert len(callers) == len(SCRIPTS[name].steps), got.turns  # every spoken turn was heard as one turn
    assert got.turns[0][2] == PACK + "dialogue.greeting", got.turns
    assert got.turns[0][1] == GREETING, got.turns[0]
    assert got.turns[1][0] == "caller", got.turns  # the greeting is one turn, then the caller speaks
    for i, turn in enumerate(got.turns):  # every caller turn got an approved reply
        if turn[0] == "caller":
            assert i + 1 < len(got.turns) and got.turns[i + 1][0] == "agent", (i, got.turns)
    return got


def test_neuromodulator_new_patient_is_screened_and_quoted_in_units(calls: dict[str, Any]) -> None:
    got = _call(calls, "neuromodulators")
    prov = got.provenance()
    # "Hi, I'm a new patient." settles it: no new-or-returning question, straight into the screen
    assert prov[:3] == ["dialogue.greeting", "dialogue.screen_intro", "q-treatment"], prov
    assert "dialogue.ask_new_or_returning" not in prov, prov
    assert ["q-treatment", "q-areas", "q-prior", "q-pregnancy", "q-anticoagulants", "q-autoimmune", "q-budget"] == [
        p for p in prov if p.startswith("q-")], got.turns
    quote = [t for t in got.turns if t[2] == PACK + "botox"]
    assert quote and "10 to 20 units" in quote[0][1], got.turns
    assert prov[-1] == "dialogue.offer_booking", prov
    assert got.escalations == [] and got.screen_flags == [], got


def test_filler_lip_blanching_speaks_the_emergency_line_and_escalates(calls: dict[str, Any]) -> None:
    got = _call(calls, "dermal-fillers")
    prov = got.provenance()
    assert prov[1] == "dialogue.escalate_emergency", prov  # the caller's first words, before anything else
    assert got.escalations[0] == ("emergency", "vascular-compromise"), got.escalations
    assert got.outcome == "escalated", got.outcome
    assert not any(p.startswith(("q-", "dialogue.offer_booking")) for p in prov), prov  # no selling


def test_laser_aftercare_topic_gets_the_approved_answer(calls: dict[str, Any]) -> None:
    got = _call(calls, "lasers")
    answer = [t for t in got.turns if t[2] == PACK + "lhr-t-shaving"]
    assert answer, got.turns
    assert answer[0][1].startswith("Your clinic's instructions say to shave only between"), answer
    assert got.escalations == [], got.escalations


def test_peel_routine_concern_is_escalated_routine_without_selling(calls: dict[str, Any]) -> None:
    got = _call(calls, "chemical-peels")
    prov = got.provenance()
    # "I had a chemical peel three days ago and I'm worried": recognised as aftercare from the first turn
    assert prov[1:] == ["dialogue.ask_concern", "dialogue.concern_noted", "dialogue.anything_else"], prov
    assert got.escalations == [("routine", "patient-concern")], got.escalations
    assert got.outcome == "concern-noted", got.outcome
    assert not any(p.startswith(("q-", "dialogue.offer_booking")) for p in prov), prov


def test_microneedling_patient_on_blood_thinners_is_flagged_for_provider_review(calls: dict[str, Any]) -> None:
    got = _call(calls, "microneedling")
    prov = got.provenance()
    assert "q-anticoagulants" in prov and "out-anticoagulants" in prov, got.turns
    assert prov.index("out-anticoagulants") > prov.index("q-anticoagulants"), got.turns
    assert got.screen_flags == ["anticoagulants"], got
    assert got.escalations == [], got.escalations
