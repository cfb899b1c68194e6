"""Check a `converse --json` outcome document against a scenario's `expect` block and the
invariants every call must keep (provenance, no reassurance, no selling after a concern)."""

from __future__ import annotations

import re
from typing import Any

PACK_REF = "demo-clinic@2025.1#"
_SELLING = ("dialogue.offer_booking", "dialogue.offer_slot", "dialogue.slot_declined", "dialogue.slot_taken",
            "dialogue.touch_up_intro",
            "dialogue.booked", "dialogue.series_next")
_REASSURE = re.compile(r"\b(that's|that is|it's|it is|this is|sounds|perfectly|completely|totally) "
                       r"(normal|expected|common|typical|nothing)\b|nothing to worry|don't worry|no need to worry", re.I)


def invariants(doc: dict[str, Any]) -> None:
    agent = [(i, t) for i, t in enumerate(doc["turns"]) if t["speaker"] == "agent"]
    assert agent, "the agent said nothing"
    for i, t in agent:
        assert t["provenance"] and t["provenance"].startswith(PACK_REF), f"turn {i} has no pack provenance: {t}"
        assert not _REASSURE.search(t["text"]), f"turn {i} reassures: {t['text']}"
    concern_turns = [e["turn"] for e in doc["escalations"] if e["category"] != "clinical-question"]
    if concern_turns:
        first = min(concern_turns)
        later = [t for i, t in agent if i > first]
        sold = [t["text"] for t in later if t["provenance"].split("#")[1] in _SELLING]
        assert not sold, f"selling after a concern: {sold}"
        assert doc["booking"] is None or _booked_before(doc, first), "a booking was made after a concern"


def _booked_before(doc: dict[str, Any], turn: int) -> bool:
    booked = [i for i, t in enumerate(doc["turns"]) if t["provenance"] and t["provenance"].endswith("dialogue.booked")]
    return bool(booked) and booked[0] < turn


def check(doc: dict[str, Any], expect: dict[str, Any]) -> None:
    invariants(doc)
    said = " ".join(t["text"] for t in doc["turns"] if t["speaker"] == "agent")
    for key, want in expect.items():
        if key == "outcome":
            assert doc["outcome"] == want, f"outcome {doc['outcome']!r} != {want!r}"
        elif key == "no_escalation":
            assert not doc["escalations"], f"unexpected escalations {doc['escalations']}"
        elif key == "escalations":
            for w in want:
                assert any(all(e[k] == v for k, v in w.items()) for e in doc["escalations"]), \
                    f"missing escalation {w} in {doc['escalations']}"
        elif key == "actions":
            kinds = [a for a in doc["actions"]]
            for w in want:
                assert any(all(a.get(k) == v for k, v in w.items()) for a in kinds), f"missing action {w} in {kinds}"
        elif key == "no_transfer":
            assert not any(a["kind"] == "transfer" for a in doc["actions"]), doc["actions"]
        elif key == "booking":
            if want is None:
                assert doc["booking"] is None, f"unexpected booking {doc['booking']}"
            else:
                assert doc["booking"], "no booking"
                for k, v in want.items():
                    assert doc["booking"][k] == v, f"booking.{k} {doc['booking'][k]!r} != {v!r}"
        elif key == "deposit":
            dep = doc["booking"]["deposit"] if doc["booking"] else None
            if want is None:
                assert dep is None, dep
            else:
                assert dep and all(dep[k] == v for k, v in want.items()), f"deposit {dep} != {want}"
        elif key == "screen_flags":
            assert set(want) <= set(doc["screen"]["flags"]), f"flags {doc['screen']['flags']} lack {want}"
        elif key == "screen_complete":
            assert doc["screen"]["complete"] is want, doc["screen"]
        elif key == "slots":
            for k, v in want.items():
                assert doc["slots"].get(k) == v, f"slot {k}: {doc['slots'].get(k)!r} != {v!r}"
        elif key == "agent_says":
            for s in want:
                assert s.lower() in said.lower(), f"agent never said {s!r}"
        elif key == "agent_never":
            for s in want:
                assert s.lower() not in said.lower(), f"agent said {s!r}"
        elif key == "protected_line":
            assert any(t["speaker"] == "agent" and t["interruptible"] is False for t in doc["turns"]) is want
        elif key == "provenance_includes":
            provs = {t["provenance"].split("#")[1] for t in doc["turns"] if t["provenance"]}
            assert set(want) <= provs, f"{want} not all in {sorted(provs)}"
        elif key == "appointment_changes":
            got = doc["slots"].get("appointment_changes") or []
            assert len(got) == len(want), f"appointment changes {got} != {want}"
            for g, w in zip(got, want, strict=True):
                assert all(g.get(k) == v for k, v in w.items()), f"appointment change {g} != {w}"
        elif key == "tasks":
            kinds = [t["kind"] for t in doc["slots"]["staff_tasks"]]
            assert set(want) <= set(kinds), f"tasks {kinds} lack {want}"
        else:
            raise AssertionError(f"unknown expect key {key}")
