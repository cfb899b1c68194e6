"""What a call does when a model fails under it: an approved line, then a person.

Used by the conversation engines' `model_failed` (the `ModelFailureAware` protocol of
`appliance.conversation`). The caller hears the built-in operational line
(`appliance.conversation.FALLBACK_LINE`: it says nothing clinical; dialogue.yaml has no
`model_failed` line), protected from barge-in and synthesised at start-up, so it plays even
when the speech worker is the one that died. The call is then
transferred: to the on-call clinician when this call raised an urgent or emergency flag, to
the front desk otherwise. Staff get an escalation of kind `system-failure` at the call's
highest severity, so nothing said before the failure is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.clinic.redflags import SEVERITY_RANK, worst_severity
from appliance.clinic.states import State
from appliance.conversation import FALLBACK_LINE, FALLBACK_PROVENANCE, Action, Escalation, Reply, Say

if TYPE_CHECKING:
    from appliance.clinic.call_context import CallContext
    from appliance.clinic.pack import Pack



def fallback_text(pack: Pack) -> str:
    """The line a caller hears when a model fails: the built-in one (the pack's schema has no
    `model_failed` line, so no pack can change it)."""
    return FALLBACK_LINE


def model_failed_reply(ctx: CallContext, role: str) -> Reply:
    """The fallback line (protected), an escalation at the call's highest severity, a transfer."""
    severity = worst_severity((e.severity for e in ctx.out.escalations), "routine")
    clinical = SEVERITY_RANK[severity] >= 2
    target = ctx.np_extension() if clinical else ctx.pack.clinic.front_desk_extension
    ctx.out.escalations.append(Escalation(severity, "system-failure", len(ctx.out.turns),
                                          f"{role} model failed during the call"))
    ctx.actions.extend([Action("escalate", severity=severity, category="system-failure"),
                        Action("transfer", target=target, attended=clinical)])
    ctx.s.state = State.ESCALATED  # later turns: red flags first, then "someone is coming"
    return ctx.reply([Say(fallback_text(ctx.pack), FALLBACK_PROVENANCE, interruptible=False, cacheable=True)])
