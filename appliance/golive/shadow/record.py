"""The account of one shadow call: what was said on each side (speaker, offsets, words) and what
the appliance would have done (its replies, the escalations it would have raised, the actions
it would have taken, the call's outcome). Pure: no clock, no I/O; the runner feeds it and the
store keeps `document()` as the call's encrypted record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appliance.conversation import ConversationOutcome, Escalation, Reply

SEVERITY_ORDER = ("emergency", "urgent", "routine")
TEXT_LIMIT = 2000  # characters of one turn kept


def most_severe(severities: list[str]) -> str | None:
    ranked = [s for s in SEVERITY_ORDER if s in severities]
    return ranked[0] if ranked else None


@dataclass
class ShadowLog:
    call_key: str
    pbx_call_id: str
    caller_number: str | None  # the patient's number, as the recording metadata or the INVITE named it
    started_at: str  # ISO 8601 UTC
    streams: list[dict[str, str]]  # [{"label": .., "role": "patient" | "staff"}]
    roles_by: str = "first-stream"
    transcript: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def heard(self, speaker: str, label: str, start_s: float, end_s: float, text: str,
              confidence: float | None) -> int:
        """A finished turn on one side; returns its index in the transcript."""
        self.transcript.append({"speaker": speaker, "label": label, "start_s": start_s, "end_s": end_s,
                                "text": text[:TEXT_LIMIT], "confidence": confidence})
        return len(self.transcript) - 1

    def would_reply(self, reply: Reply, after: int | None, at_s: float, fresh: list[Escalation]) -> None:
        """What the appliance would have said and done after transcript turn `after` (None: its
        opening), and the escalations that turn would have raised."""
        entry = {"after": after, "at_s": at_s,
                 "says": [{"text": s.text, "provenance": s.provenance} for s in reply.says],
                 "actions": [{"kind": a.kind, "target": a.target, "severity": a.severity, "category": a.category}
                             for a in reply.actions],
                 "end_call": reply.end_call}
        if entry["says"] or entry["actions"] or reply.end_call:
            self.replies.append(entry)
        for esc in fresh:
            self.escalations.append({"severity": esc.severity, "category": esc.category, "flag": esc.detail,
                                     "evidence": esc.evidence, "after": after, "at_s": at_s})

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @property
    def would_escalate(self) -> str | None:
        """The most severe escalation the appliance would have raised (None: none)."""
        return most_severe([e["severity"] for e in self.escalations])

    def document(self, outcome: ConversationOutcome, intent: str | None) -> dict[str, Any]:
        """The stored record: the transcript in time order (indexes in replies and escalations
        refer to `turn` numbers kept on each line), the would-be replies, escalations and outcome."""
        order = sorted(range(len(self.transcript)), key=lambda i: (self.transcript[i]["start_s"], i))
        renumber = {old: new for new, old in enumerate(order)}
        transcript = [dict(self.transcript[i], turn=renumber[i]) for i in order]

        def at(entry: dict[str, Any]) -> dict[str, Any]:
            after = entry["after"]
            return dict(entry, after=None if after is None else renumber[after])

        return {"version": 1, "streams": self.streams, "roles_by": self.roles_by, "transcript": transcript,
                "replies": [at(r) for r in self.replies], "escalations": [at(e) for e in self.escalations],
                "outcome": outcome.outcome, "intent": intent, "booking": outcome.booking,
                "staff_tasks": outcome.slots.get("staff_tasks") or [], "screen": outcome.screen,
                "pack": outcome.pack, "notes": self.notes}
