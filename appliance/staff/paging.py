"""Who to page about an escalation, and when: pure, clock-free policy.

Emergency and urgent escalations page the first person of the on-call chain at once (a call
to the desk phone with a PHI-minimal brief, plus a SIP MESSAGE text). When that person does
not acknowledge within the protocol's response-time target (at least one ring period), or the
page call ends unanswered or declined, the next person in the chain is paged (an answered page
call, while the clinician listens to the brief, is waited for: it ends on its own, bounded); after the end of
the chain it starts over, for at most `max_rounds` rounds, then reports the chain exhausted
(the console shows it). Routine escalations are never paged: they wait in the queue.

Outside opening hours the chain is the pack's after-hours on-call list for that time (see
`appliance.clinic.after_hours.paging_chain`: extensions, and external numbers dialled through
the PBX); `decide` is the same, only the chain it is given differs.

The page texts word the concern as the warm transfer's brief does (`appliance.live.briefs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from appliance.live.briefs import topic

ENDPOINT = "pager.desk-phones"  # the pager's outbox consumer (webhook names have no dot: no clash)
PageOutcome = Literal["ringing", "answered", "connected", "acknowledged", "declined", "no-answer", "failed"]
DONE_OUTCOMES = ("connected", "acknowledged")
FAILED_OUTCOMES = ("declined", "no-answer", "failed")


@dataclass(frozen=True)
class Attempt:
    level: int  # position in the chain, counting across rounds (0, 1, 2, ...)
    target: str  # extension
    at: float  # when the page started
    outcome: PageOutcome = "ringing"


@dataclass(frozen=True)
class Decision:
    action: Literal["page", "wait", "done", "exhausted", "queue"]
    level: int | None = None
    target: str | None = None
    wake_at: float | None = None  # when to ask again (for "wait"; None: when the page call under way ends)


def brief(severity: str, category: str, line: str | None) -> str:
    """What the desk phone hears: severity, the kind of concern and the line, never who or why in detail."""
    where = f"patient on line {line}" if line else "patient waiting"
    return f"{severity} {topic(category)} concern, {where}, press 1 to connect."


def callback_brief(severity: str, category: str) -> str:
    """The page when the patient is no longer on the line: pressing 1 acknowledges."""
    return f"{severity} {topic(category)} concern, the patient has hung up, press 1 to acknowledge."


def acknowledge_brief(severity: str, category: str) -> str:
    """The page to an on-call clinician who takes no transfers (after hours): a call back, not a connection."""
    return f"{severity} {topic(category)} concern, please call the patient back, press 1 to acknowledge."


def exhausted_note(promised: str | None, *, nobody: bool = False) -> str:
    """What the escalation's page record shows when the after-hours chain is exhausted: what
    happened and the call-back time the caller was promised (None: an emergency, whose approved
    line promises no time). No commas: the record is a comma-separated list."""
    what = "after hours nobody on call" if nobody else "after-hours chain exhausted"
    told = f"call-back promised {promised}" if promised else "caller heard the emergency line"
    return f"{what}; {told}".replace(",", "")


def text_page(severity: str, category: str, line: str | None) -> str:
    """The SIP MESSAGE text page: as PHI-minimal as the spoken brief."""
    where = f"patient on line {line}" if line else "patient has hung up, call back"
    return f"{severity.upper()}: {topic(category)} concern, {where}. See the console."


def decide(*, severity: str, created_at: float, response_s: float, chain: tuple[str, ...], attempts: tuple[Attempt, ...],
           acknowledged: bool, now: float, ring_s: float = 30.0, max_rounds: int = 2) -> Decision:
    if acknowledged or any(a.outcome in DONE_OUTCOMES for a in attempts):
        return Decision("done")
    if severity not in ("emergency", "urgent"):
        return Decision("queue")
    if not chain:
        return Decision("exhausted")
    window = max(response_s, ring_s)
    if not attempts:
        return Decision("page", 0, chain[0])
    last = max(attempts, key=lambda a: a.level)
    if last.outcome == "answered":  # the clinician is listening to the brief: the page call's own end decides
        return Decision("wait")
    if last.outcome not in FAILED_OUTCOMES and now < last.at + window:
        return Decision("wait", wake_at=last.at + window)
    nxt = last.level + 1
    if nxt >= len(chain) * max_rounds:
        return Decision("exhausted")
    return Decision("page", nxt, chain[nxt % len(chain)])
