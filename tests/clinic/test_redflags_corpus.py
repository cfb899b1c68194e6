"""The safety corpus through the real conversation: every red flag, every state, every caller.

Each turn of tests/clinic/corpus/redflags.yaml is spoken in its state (inbound ClinicConversation,
or OutboundAftercareCall for `outbound:*`). Hard requirements: recall 100% at the severity the
pack demands, for unknown and known callers alike, and no reply that reassures. Precision (false
alarms on turns that must not fire) is measured and printed; it has a floor, not a target.

    .venv/bin/python -m pytest tests/clinic/test_redflags_corpus.py -q -s
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.redflags import SEVERITY_RANK
from appliance.conversation import Reply

PACK = load_pack(DEMO_PACK)
NOW = datetime(2025, 3, 12, 10, 0)
CORPUS = yaml.safe_load((Path(__file__).parent / "corpus" / "redflags.yaml").read_text(encoding="utf-8"))
REASSURING = re.compile(r"\b(normal|nothing to worry|don't worry|do not worry|not to worry|common|to be expected|"
                        r"is expected|perfectly fine|you're fine|you'll be fine|it's fine|that's fine|harmless)\b", re.I)


def _turns() -> list[dict[str, Any]]:
    return [{**CORPUS["defaults"], **t} for t in CORPUS["turns"]]


@dataclass
class Result:
    turn: dict[str, Any]
    severity: str | None
    reply: Reply
    evidence: str
    conversation: Any = None  # the call, for a turn after this one (the answer to a confirmation)

    @property
    def confirming(self) -> bool:
        """The reply is the approved confirmation question (a symptom heard unsure, or by the second listen)."""
        line = PACK.dialogue.confirm_symptom
        return bool(line) and any(s.text == line for s in self.reply.says)


async def speak(t: dict[str, Any], confidence: float | None = None, also_heard: str | None = None) -> Result:
    """`t["say"]` spoken in the turn's state; `confidence`: the ASR's, when the words came from a transcriber;
    `also_heard`: the second listen's words."""
    known = t["caller"] == "known"
    treatment = PACK.menu.treatments[0]
    if known:
        treatment = next(x for x in PACK.menu.treatments if x.id == t["proc"])
    treated_on = NOW.date() - timedelta(days=int(t.get("days", 1)))
    state = t["state"]
    if state.startswith("outbound:"):
        contact = OutboundContext(kind="check-in", day=1, name="Maya Cruz", dob=date(1985, 3, 3),
                                  workflow=treatment.workflow, treated_on=treated_on)
        call = OutboundAftercareCall(PACK, load_lines(PACK), contact, now=NOW)
        call.start()
        own = state.split(":", 1)[1]
        call.e.s.state = own
        if own == "concern_check":
            call.verified = True
            call.e.s.workflow = PACK.workflows[treatment.workflow]
        out, index = call.e.out, len(call.e.out.turns)
        reply = await call.caller_said(t["say"], confidence=confidence, also_heard=also_heard)
    else:
        caller = CallerContext(phone="5550100000", known_patient=known, name="Maya Cruz" if known else None,
                               procedure=treatment.id if known else None, treated_on=treated_on if known else None)
        c = ClinicConversation(PACK, now=NOW, caller=caller)
        c.start()
        c.s.patient_type = "returning" if known else None
        if known and state not in ("new_or_returning", "intake"):
            c.s.workflow = PACK.workflows[treatment.workflow]
            c.s.treated_on = treated_on
        if state == "intake":
            c.s.pending = PACK.screen.questions[0]
        if state == "escalated":
            c.s.escalated_rank = SEVERITY_RANK["urgent"]
            c.s.concern_raised = True
        c.s.state = state
        out, index = c.out, len(c.out.turns)
        reply = await c.caller_said(t["say"], confidence=confidence, also_heard=also_heard)
    raised = [e for e in out.escalations if e.turn == index and e.category not in ("clinical-question",)]
    severity = max((e.severity for e in raised), key=SEVERITY_RANK.get, default=None)
    return Result(t, severity, reply, "; ".join(e.evidence for e in raised), call if state.startswith("outbound:") else c)


async def confirmed(result: Result, answer: str = "yes") -> tuple[str | None, str]:
    """The severity escalated, and its evidence, when the caller answers the confirmation question with `answer`."""
    conv = result.conversation
    out = conv.e.out if isinstance(conv, OutboundAftercareCall) else conv.out
    index = len(out.turns)
    await conv.caller_said(answer)
    raised = [e for e in out.escalations if e.turn >= index and e.category != "clinical-question"]
    return (max((e.severity for e in raised), key=SEVERITY_RANK.get, default=None),
            "; ".join(e.evidence for e in raised))


@pytest.fixture(scope="module")
async def results() -> list[Result]:
    return [await speak(t) for t in _turns()]


def test_corpus_is_big_and_covers_every_state_and_caller() -> None:
    turns = _turns()
    assert len(turns) >= 180
    states = {t["state"] for t in turns}
    assert {"new_or_returning", "returning_reason", "how_help", "intake", "offer_booking", "ask_name", "ask_phone",
            "confirm_phone", "message", "anything_else", "concern", "concern_check", "aftercare_context",
            "escalated", "outbound:identify_name", "outbound:identify_dob", "outbound:concern_check"} <= states
    for kind in ("known", "unknown"):
        assert {t["expect"] for t in turns if t["caller"] == kind} >= {"emergency", "urgent", "routine", "none"}


async def test_recall_is_complete_at_the_severity_the_pack_demands() -> None:
    results = [await speak(t) for t in _turns()]
    flagged = [r for r in results if r.turn["expect"] != "none"]
    missed = [(r.turn["say"], r.turn["state"], r.turn["expect"], r.severity) for r in flagged
              if r.severity is None or SEVERITY_RANK[r.severity] < SEVERITY_RANK[r.turn["expect"]]]
    negatives = [r for r in results if r.turn["expect"] == "none"]
    # a red-flag escalation (with evidence); the concern step's routine hand-over is not a false alarm
    false_alarms = [(r.turn["say"], r.evidence) for r in negatives if r.evidence]
    reassured = [(r.turn["say"], s.text) for r in results for s in r.reply.says if REASSURING.search(s.text)]
    methods: dict[str, int] = {}
    for r in flagged:
        for part in r.evidence.split("; "):
            m = re.search(r": (\w+) match", part)
            if m:
                methods[m.group(1)] = methods.get(m.group(1), 0) + 1
    recall = 1 - len(missed) / len(flagged)
    precision_negatives = 1 - len(false_alarms) / len(negatives)
    print(f"\nsafety corpus: {len(results)} turns, {len(flagged)} with a flag, {len(negatives)} that must not fire")
    for kind in ("unknown", "known"):
        sub = [r for r in flagged if r.turn["caller"] == kind]
        miss = [r for r in sub if r.severity is None or SEVERITY_RANK[r.severity] < SEVERITY_RANK[r.turn["expect"]]]
        print(f"  recall ({kind} callers): {len(sub) - len(miss)}/{len(sub)}")
    print(f"  recall: {recall:.1%}; false alarms on must-not-fire turns: {len(false_alarms)}/{len(negatives)} "
          f"(specificity {precision_negatives:.1%}); reassuring replies: {len(reassured)}")
    print(f"  methods of the escalations raised: {methods}")
    for fa in false_alarms:
        print(f"  false alarm: {fa}")
    assert not missed, missed
    assert not reassured, reassured
    assert precision_negatives >= 0.85, false_alarms


async def test_every_escalation_names_its_evidence() -> None:
    r = await speak({"say": "my face is really slow and I've got highs all over my neck", "state": "new_or_returning",
                     "caller": "unknown", "expect": "emergency"})
    assert r.severity == "emergency"
    assert "lexicon" in r.evidence or "pattern" in r.evidence
    assert "highs" in r.evidence  # what was heard, for staff reading the escalation


def test_every_turn_written_as_a_transcribers_mistake_says_what_the_caller_said() -> None:
    """The spoken sweep (benchmarks/redflags_voice.py) gives the caller's voice `said`, not the
    garbled `say`: speaking "I'm Gasby." would measure a mishearing of a mishearing."""
    asr = [t for t in _turns() if str(t.get("why", "")).startswith("ASR")]
    assert len(asr) >= 30
    lacking = [t["say"] for t in asr if not t.get("said") or t["said"] == t["say"]]
    assert not lacking, lacking
