"""What a call does when a model fails under it: an approved line, then a person.

Used by the conversation engines' `model_failed` (the `ModelFailureAware` protocol of
`appliance.conversation`). The caller hears the pack's `model_failed` line, or the built-in
operational line below (it says nothing clinical), protected from barge-in and synthesised
at start-up, so it plays even when the speech worker is the one that died. The call is then
transferred: to the on-call clinician when this call raised an urgent or emergency flag, to
the front desk otherwise. Staff get an escalation of kind `system-failure` at the call's
highest severity, so nothing said before the failure is lost.
"""

from __future__ import annotations

from typing import Any

from appliance.conversation import Action, Escalation, Reply, Say

FALLBACK_LINE = "I'm sorry, I'm having trouble on my end. Please hold while I get someone from the clinic for you."
_RANK = {"emergency": 3, "urgent": 2, "routine": 1}


def fallback_text(pack: Any) -> str:
    return getattr(pack.dialogue, "model_failed", None) or FALLBACK_LINE


def model_failed_reply(conv: Any, role: str) -> Reply:
    """`conv` is a `ClinicConversation` (pack, out, s, reply, np_extension)."""
    severity = max((e.severity for e in conv.out.escalations), key=_RANK.get, default="routine")
    clinical = _RANK[severity] >= 2
    target = conv.np_extension() if clinical else conv.pack.clinic.front_desk_extension
    conv.out.escalations.append(Escalation(severity, "system-failure", len(conv.out.turns),
                                           f"{role} model failed during the call"))
    conv._actions.extend([Action("escalate", severity=severity, category="system-failure"),
                          Action("transfer", target=target, attended=clinical)])
    provenance = conv.pack.prov("dialogue.model_failed") if getattr(conv.pack.dialogue, "model_failed", None) \
        else "system#model_failed"
    conv.s.state = "escalated"  # later turns: red flags first, then "someone is coming"
    return conv.reply([Say(fallback_text(conv.pack), provenance, interruptible=False, cacheable=True)])
