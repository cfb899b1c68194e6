"""The console's shadow-call pages (clinicians: they show transcripts): the list of shadow calls
and one call, its both-sided transcript interleaved with what the appliance would have said and
done, the escalations it would have raised first. Every view is audited (`shadow.list`,
`shadow.read`); nothing here changes a record."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from appliance.golive.shadow import store
from appliance.records.audit import Access
from appliance.staff.api import RecordId
from appliance.staff.auth import Session
from appliance.staff.html import e, page, table
from appliance.staff.web import _ctx, require

SPEAKERS = {"patient": "Patient", "staff": "Staff"}


def _who(s: Session) -> Access:
    return Access(f"staff:{s.username}", "console:shadow")


def _badge(severity: str | None) -> str:
    if not severity:
        return "none"
    return f'<span class="sev-{e(severity)}">{e(severity)}</span>'


def _list_rows(rows: list[dict[str, Any]]) -> str:
    return "".join(
        f'<tr data-shadow="{r["id"]}"><td><a href="/golive/shadow/{r["id"]}">{e(r["started_at"][:16].replace("T", " "))}'
        f'</a></td><td>{e(r["caller_number"] or "unknown")}</td><td>{e(r["outcome"])}</td><td>{e(r["intent"] or "")}</td>'
        f'<td>{_badge(r["would_escalate"])}</td></tr>' for r in rows) or '<tr><td colspan="5">No shadow calls yet.</td></tr>'


def _reply(entry: dict[str, Any]) -> str:
    says = "".join(f'<p class="turn-agent">{e(s["text"])}</p>' for s in entry["says"])
    acts = [a for a in entry["actions"] if a["kind"] != "escalate"]
    done = "; ".join(f'{a["kind"]}{" to " + a["target"] if a.get("target") else ""}' for a in acts)
    done += "; end the call" if entry.get("end_call") else ""
    return (f'<tr class="would"><td>{entry["at_s"]:.1f} s</td><td><i>Appliance (not said)</i></td>'
            f'<td>{says}{f"<small>would: {e(done)}</small>" if done else ""}</td></tr>')


def _detail(row: dict[str, Any]) -> str:
    rec = row["record"]
    escalations = rec.get("escalations") or []
    esc_html = "".join(
        f'<li data-escalation="{e(x["severity"])}">{_badge(x["severity"])} {e(x["category"])} '
        f'<small>(flag {e(x["flag"])}; at {x["at_s"]:.1f} s)</small><br><small>{e(x.get("evidence"))}</small></li>'
        for x in escalations)
    banner = (f'<div class="msg err" id="would-escalate"><b>Would have escalated:</b><ul>{esc_html}</ul>'
              "Nobody was paged: this was a shadow call.</div>" if escalations
              else '<p id="would-escalate">No escalation would have been raised.</p>')
    replies: dict[int | None, list[dict[str, Any]]] = {}
    for r in rec.get("replies") or []:
        replies.setdefault(r["after"], []).append(r)
    lines = [_reply(r) for r in replies.get(None, [])]
    for t in rec.get("transcript") or []:
        lines.append(f'<tr data-speaker="{e(t["speaker"])}"><td>{t["start_s"]:.1f} s</td>'
                     f'<td>{e(SPEAKERS.get(t["speaker"], t["speaker"]))}</td><td class="turn-caller">{e(t["text"])}</td></tr>')
        lines += [_reply(r) for r in replies.get(t["turn"], [])]
    booking = rec.get("booking")
    facts = (f'<p>Caller <b>{e(row["caller_number"] or "unknown")}</b> · {e(row["started_at"][:19].replace("T", " "))} UTC · '
             f'ended: {e(row["end_reason"])} · outcome <b id="shadow-outcome">{e(row["outcome"])}</b> · intent '
             f'{e(row["intent"] or "")} · pack {e(rec.get("pack") or "")}</p>')
    extra = f'<p>Would have booked: {e(booking)}</p>' if booking else ""
    notes = "".join(f"<li>{e(n)}</li>" for n in rec.get("notes") or [])
    return (facts + banner + extra + table(["At", "Who", "Said"], lines, "shadow-transcript")
            + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""))


def register_shadow(app: FastAPI) -> None:
    @app.get("/golive/shadow", response_class=HTMLResponse, tags=["pages"], summary="Shadow calls (SIPREC)")
    async def shadow_list(request: Request, s: Annotated[Session, Depends(require("summaries.view"))]) -> str:
        rows = await _ctx(request).repo.records.run(lambda r: store.shadow_calls(r, _who(s)))
        body = ("<p>Calls staff answered, heard by the appliance through the phone system's recording "
                "(SIPREC), and what it would have done. Nothing was said to the caller, nobody was paged, "
                "nothing was booked. See docs/installers.md, Shadow calls.</p>"
                + table(["When (UTC)", "Caller", "Outcome", "Intent", "Would escalate"], [_list_rows(rows)],
                        "shadow-body"))
        return page("Shadow calls", body, s, "/golive/shadow")

    @app.get("/golive/shadow/{sid}", response_class=HTMLResponse, tags=["pages"], summary="One shadow call")
    async def shadow_one(request: Request, sid: RecordId, s: Annotated[Session, Depends(require("summaries.view"))]) -> str:
        row = await _ctx(request).repo.records.run(lambda r: store.shadow_call(r, _who(s), sid))
        return page(f"Shadow call #{row['id']}", _detail(row), s, "/golive/shadow")
