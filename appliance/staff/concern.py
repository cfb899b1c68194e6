"""How the console shows a resolved concern's follow-up call (appliance.records.concern): when it
is planned, and what it found (better; the same or worse, escalated again; not reached)."""

from __future__ import annotations

from typing import Any

from appliance.staff.html import e, table, when

ESCALATED = {"same": "the same", "worse": "worse", "unclear": "no clear answer", "red-flag": "a red flag"}
RESULT = {"better": "better"}


def follow_up_text(fu: dict[str, Any] | None) -> str:
    """One line of plain text (HTML-escaped by the caller), or "" without a follow-up."""
    if not fu:
        return ""
    state, outcome = fu.get("state"), fu.get("outcome") or ""
    if state == "due":
        tried = f" (tried {fu['attempts']} times; last: {outcome})" if fu.get("attempts") else ""
        return f"Follow-up call planned for {when(fu.get('call_at'))}{tried}"
    if state == "dialing":
        return "Follow-up call in progress"
    if state == "completed" and outcome == "better":
        return f"Follow-up call {when(fu.get('done_at'))}: better"
    if state == "completed" and outcome in ESCALATED:
        again = ", ".join(f"#{i}" for i in fu.get("escalated_again") or [])
        return f"Follow-up call {when(fu.get('done_at'))}: {ESCALATED[outcome]}; escalated again {again}".rstrip()
    return f"Follow-up call not reached ({outcome or state})"


def follow_up_html(r: dict[str, Any]) -> str:
    text = follow_up_text(r.get("follow_up"))
    if not text:
        return ""
    fu = r["follow_up"]
    return (f'<br><small class="follow-up" data-follow-up="{r["id"]}" data-state="{e(fu.get("state"))}" '
            f'data-outcome="{e(fu.get("outcome") or "")}">{e(text)}</small>')


def resolved_table(rows: list[dict[str, Any]]) -> str:
    """Resolved escalations, newest first, with the resolution and the follow-up call."""
    done = sorted((r for r in rows if r["status"] == "resolved"), key=lambda r: r["resolved_at"] or 0, reverse=True)
    body = "".join(
        f'<tr id="resolved-{r["id"]}"><td><span class="sev-{e(r["severity"])}">{e(r["severity"])}</span></td>'
        f'<td>{e(r["category"])}</td><td>{e(r["patient_label"])}<br><small>{e(r["detail"])}</small></td>'
        f'<td>{when(r["resolved_at"])} {e(r["resolved_by"] or "")}</td><td>{e(r["resolution_note"] or "")}'
        f'{follow_up_html(r)}</td></tr>' for r in done[:50]) or '<tr><td colspan="5">Nothing resolved yet.</td></tr>'
    return ('<h2>Resolved</h2>'
            + table(["Severity", "Concern", "Patient", "Resolved", "Resolution and follow-up call"], [body], "resolved-body"))
