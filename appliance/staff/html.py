"""Server-rendered HTML: escaping, the page layout, small building blocks. No templates engine,
no build step; every value that reaches the page passes through `e()`."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from appliance.staff.auth import ROLE_NAMES, Session, allowed

NAV = (("/calls", "Live calls", "calls"), ("/escalations", "Escalations", "escalations.view"),
       ("/summaries", "Summaries", "summaries.view"), ("/appointments", "Appointments", "appointments"),
       ("/aftercare", "Aftercare", "aftercare"), ("/treatments/new", "Record treatment", "aftercare"),
       ("/tasks", "Tasks", "appointments"), ("/messages", "Messages", "aftercare"),
       ("/dashboard", "Quality", "dashboard"), ("/users", "Users", "users"),
       ("/test-call", "Test call", "testcall"), ("/golive", "Go-live", "dashboard"),
       ("/golive/shadow", "Shadow calls", "summaries.view"))

CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#23395d;color:#fff;padding:.5rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none;padding:.25rem .5rem;border-radius:4px}header a.on{background:#3d5a8a}
header form{margin-left:auto}main{padding:1rem;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #dde;padding:.4rem;text-align:left;vertical-align:top}
.sev-emergency{color:#fff;background:#b00020;padding:.1rem .4rem;border-radius:3px}
.sev-urgent{background:#ffb300;padding:.1rem .4rem;border-radius:3px}
.sev-routine{background:#dde;padding:.1rem .4rem;border-radius:3px}
.overdue{color:#b00020;font-weight:bold}.msg{padding:.5rem;background:#fff3cd;border:1px solid #e0c56e;margin-bottom:1rem}
.err{background:#fde2e1;border-color:#e08080}textarea{width:100%;min-height:8rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:1rem}
.card{background:#fff;padding:.75rem;border:1px solid #dde;border-radius:6px}.card h3{margin:.2rem 0;font-size:1rem}
.big{font-size:1.6rem;font-weight:bold}.turn-agent{color:#23395d}.turn-caller{color:#5a3d00}
.pack{font-size:.85rem}.pack .demo{color:#fff;background:#b00020;padding:.1rem .4rem;border-radius:3px;font-weight:bold}
.pack .warn{background:#ffb300;color:#1b1f24;padding:.1rem .4rem;border-radius:3px}
"""

_banner = ""  # the protocol pack's status, shown in every signed-in page's header (appliance.golive)


def pack_banner(status: Any) -> str:
    """`status`: an `appliance.golive.packstatus.PackStatus`."""
    if status is None:
        return ""
    demo = status.demo or status.scope == "demo"
    flag = ' <strong class="demo" id="pack-demo">DEMO \u2014 test calls only</strong>' if demo else ""
    other = [p for p in status.problems if p.code != "pack-demo"]
    warn = "".join(f' <span class="warn" title="{e(p.fix)}">{e(p.code)}</span>' for p in other)
    return (f'<span class="pack" id="pack-banner">pack <b>{e(status.ref or status.path)}</b> · '
            f'{e(status.approval_line())}{flag}{warn}</span>')


def set_pack_banner(status: Any) -> None:
    global _banner
    _banner = pack_banner(status)


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def csrf_field(session: Session) -> str:
    return f'<input type="hidden" name="csrf_token" value="{e(session.csrf)}">'


def page(title: str, body: str, session: Session | None = None, active: str = "", message: str = "",
         error: bool = False) -> str:
    nav = ""
    if session:
        links = "".join(f'<a href="{href}" class="{"on" if href == active else ""}">{e(label)}</a>'
                        for href, label, perm in NAV if allowed(session.role, perm))
        nav = (f'<header><strong>Clinic console</strong>{_banner}{links}<span>{e(session.display_name)} '
               f'({e(ROLE_NAMES[session.role])})</span><form method="post" action="/logout">{csrf_field(session)}'
               f'<button type="submit">Log off</button></form></header>')
    meta = f'<meta name="csrf-token" content="{e(session.csrf)}">' if session else ""
    note = f'<div class="msg{" err" if error else ""}" role="alert">{e(message)}</div>' if message else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} · Clinic console</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">{meta}<style>{CSS}</style>'
            f'<script src="/static/console.js" defer></script></head><body>{nav}<main><h1>{e(title)}</h1>{note}'
            f'{body}</main></body></html>')


def table(headers: list[str], rows: list[str], body_id: str = "") -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    attr = f' id="{body_id}"' if body_id else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody{attr}>{''.join(rows)}</tbody></table>"
