"""Outbound aftercare calls played through the real `appliance converse --script FILE --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).parent / "scripts"
ROOT = Path(__file__).resolve().parents[2]
PHI = ("dana", "lee", "botox", "march", "forehead", "neuromodulator", "treatment", "1985", "upright")


def converse(name: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "appliance", "converse", "--script", str(SCRIPTS / name), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def agent(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in doc["turns"] if t["speaker"] == "agent"]


def provs(doc: dict[str, Any]) -> list[str]:
    return [str(t["provenance"]).split("#")[-1] for t in agent(doc)]


def assert_no_phi(doc: dict[str, Any]) -> None:
    for t in agent(doc):
        assert t["provenance"], t  # every line is approved content
        low = t["text"].lower()
        assert not [w for w in PHI if w in low], t["text"]


def test_identity_fails_no_phi() -> None:
    doc = converse("identity_fails.yaml")
    assert doc["outcome"] == "identity-failed"
    assert_no_phi(doc)
    out = doc["slots"]["outbound"]
    assert out["disposition"] == "identity-failed" and not out["reached"] and not out["delivered"]
    assert provs(doc)[-1] == "outbound.identity_failed"


@pytest.mark.parametrize(("script", "disposition"), [("voicemail.yaml", "voicemail"),
                                                      ("wrong_person.yaml", "wrong-person")])
def test_machine_or_wrong_person_gets_the_no_phi_message(script: str, disposition: str) -> None:
    doc = converse(script)
    assert doc["outcome"] == disposition
    assert_no_phi(doc)
    assert provs(doc)[-1] == f"outbound.{disposition.replace('-', '_')}"
    assert doc["slots"]["outbound"]["message_left"] is (disposition == "voicemail")


def test_concern_escalates_and_blocks_selling() -> None:
    doc = converse("concern_escalation.yaml")
    assert doc["outcome"] == "escalated"
    (esc,) = doc["escalations"]
    assert (esc["severity"], esc["category"]) == ("urgent", "eyelid-or-vision")
    kinds = [a["kind"] for a in doc["actions"]]
    assert "escalate" in kinds and "transfer" in kinds
    assert "outbound.offer_booking" not in provs(doc) and "dialogue.offer_slot" not in provs(doc)
    assert provs(doc)[-1] == "dialogue.concern_first"  # booking asked for: the concern comes first
    out = doc["slots"]["outbound"]
    assert out["reached"] and out["delivered"] and out["concern"] and out["escalated"] and not out["booked"]


def test_routine_concern_goes_to_the_clinician() -> None:
    doc = converse("concern_routine.yaml")
    assert doc["outcome"] == "concern-noted"
    assert doc["escalations"] and doc["escalations"][0]["severity"] == "routine"
    assert "outbound.offer_booking" not in provs(doc)
    assert doc["slots"]["outbound"]["concern"]


def test_no_concern_confirm_review_then_booking() -> None:
    doc = converse("checkin_no_concern.yaml")
    p = provs(doc)
    assert p.index("outbound.ask_dob") < p.index("outbound.intro_check_in")  # PHI only after identity
    assert_no_phi({"turns": doc["turns"][:[t["provenance"] for t in doc["turns"]].index(
        "demo-clinic@2025.1#outbound.intro_check_in")]})
    assert "bx-ii-upright" in p  # day-1 instructions read
    order = [p.index(k) for k in ("bx-ii-upright", "bx-q-received", "bx-q-concern", "outbound.no_concern",
                                  "outbound.review_reminder", "outbound.offer_booking", "dialogue.offer_slot",
                                  "dialogue.booked")]
    assert order == sorted(order)
    assert doc["slots"]["checkin_answers"] == {"bx-q-received": "yes", "bx-q-concern": "no"}
    assert doc["slots"]["check_in"] == "bx-ci-day1"
    assert doc["outcome"] == "booked" and doc["booking"]["kind"] == "touch-up"
    assert doc["booking"]["start"] >= "2025-03-21"  # inside the touch-up window (day 14-21)
    out = doc["slots"]["outbound"]
    assert out["reached"] and out["delivered"] and out["booked"] and not out["concern"] and not out["escalated"]
    assert p[-1] == "outbound.goodbye"  # the clinic called: its own closing line
    assert not any("thank you for calling" in t["text"].lower() for t in agent(doc))


def test_declined_booking_gets_the_outbound_reply_and_closing() -> None:
    doc = converse("checkin_declines_booking.yaml")
    p = provs(doc)
    assert p[-4:] == ["outbound.offer_booking", "outbound.booking_declined", "dialogue.anything_else",
                      "outbound.goodbye"]
    assert doc["booking"] is None and doc["slots"]["outbound"]["disposition"] == "completed"
    assert not any("thank you for calling" in t["text"].lower() for t in agent(doc))


def test_opt_out_recorded() -> None:
    doc = converse("opt_out.yaml")
    assert doc["outcome"] == "opted-out"
    assert_no_phi(doc)
    assert doc["slots"]["outbound"]["opted_out"] and doc["slots"]["outbound"]["disposition"] == "opted-out"


def test_red_flag_before_identity_still_escalates_without_phi() -> None:
    doc = converse("red_flag_before_identity.yaml")
    assert doc["outcome"] == "escalated"
    assert doc["escalations"][0]["severity"] == "emergency"
    assert_no_phi(doc)
    assert any(t["interruptible"] is False for t in agent(doc))  # the emergency line is protected


def test_a_later_check_in_reminds_its_purpose_and_keeps_the_answers() -> None:
    """The peel's day-4 check-in: the approved product-use reminder (its topic), then the concern question."""
    doc = converse("checkin_peel_day4.yaml")
    p = provs(doc)
    assert p[p.index("outbound.intro_check_in") + 1:p.index("pe-q-concern") + 1] == ["pe-t-products", "pe-q-concern"]
    assert "outbound.instructions_intro" not in p  # the immediate instructions are day 1's
    assert doc["slots"]["check_in"] == "pe-ci-day4" and doc["slots"]["checkin_answers"] == {"pe-q-concern": "no"}
    assert doc["outcome"] != "escalated" and p[-1] == "outbound.goodbye"
    assert doc["slots"]["satisfaction"] == 4  # the last check-in: satisfaction, then the booking offer
    assert p.index("outbound.satisfaction.ask") < p.index("outbound.satisfaction.thanks") < p.index(
        "outbound.offer_booking")
