"""The CalDAV conversation with the clinic's calendar server (blocking: run it in a thread).

Transport, login (Basic, Digest or Bearer, as the server asks) and TLS come from the `caldav`
library's `DAVClient`; the requests are the standard ones:

- reading changes: a `sync-collection` REPORT (RFC 6578) from the last sync token; a server
  without it, or that forgot the token, is read by listing ETags (PROPFIND, skipped while the
  collection's CalendarServer `getctag` is unchanged); changed resources come in one
  `calendar-multiget` REPORT (RFC 4791 section 7.9);
- writing: PUT with `If-None-Match: *` for a new event (never overwrites) and `If-Match: <etag>`
  for a change; DELETE with `If-Match`. A 412 means the calendar changed first: the next read
  brings that change, and the calendar wins.

Environment proxies and ~/.netrc are ignored; the caldav library's own log is silenced
(responses carry event text).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit
from xml.sax.saxutils import escape

from appliance.config.calendar import CalendarSettings

logging.getLogger("caldav").setLevel(logging.CRITICAL + 10)

DAV, CAL, CS = "DAV:", "urn:ietf:params:xml:ns:caldav", "http://calendarserver.org/ns/"
MAX_SYNC_PAGES = 20  # a server that truncates its answers (507) is asked again, this many times at most
MULTIGET_BATCH = 100
_XML = {"Content-Type": 'application/xml; charset="utf-8"'}


class CalendarServerError(Exception):
    """The server answered, but not as CalDAV should (status and what was asked; no content)."""


def _tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


@dataclass
class PullState:
    """What was known of one calendar after the last read."""

    token: str | None = None
    ctag: str | None = None
    mode: str = "sync-token"  # or "etag" (the server has no sync-collection)
    etags: dict[str, str | None] = field(default_factory=dict)  # href -> etag


@dataclass
class Pulled:
    """The changes since `PullState`: `changed` href -> (etag, iCalendar text); `removed` hrefs;
    when `listed` is set this was a full read, and every cached href not in it is gone."""

    token: str | None
    ctag: str | None
    mode: str
    changed: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    listed: set[str] | None = None


def read_password(path: Path | None) -> str | None:
    if path is None:
        return None
    return path.read_text(encoding="utf-8").strip("\r\n")


class CalDAV:
    def __init__(self, settings: CalendarSettings, password: str | None) -> None:
        import caldav

        assert settings.url is not None
        self.base = settings.url if settings.url.endswith("/") else settings.url + "/"
        verify: bool | str = str(settings.ca_file) if settings.ca_file else settings.verify_tls
        self.client = caldav.DAVClient(self.base, username=settings.username, password=password,
                                       timeout=settings.timeout_s, ssl_verify_cert=verify)  # type: ignore[arg-type]  # also a CA file path
        self.client.session.trust_env = False  # no proxy from the environment, no ~/.netrc
        self.settings = settings

    def close(self) -> None:
        self.client.close()

    def calendar_url(self, target: str) -> str:
        url = urljoin(self.base, target)
        return url if url.endswith("/") else url + "/"

    @staticmethod
    def resource_url(calendar_url: str, uid: str) -> str:
        return calendar_url + quote(uid, safe="") + ".ics"

    # -- reading -----------------------------------------------------------------------------
    def pull(self, calendar_url: str, state: PullState) -> Pulled:
        if state.mode == "sync-token":
            pulled = self._sync(calendar_url, state.token)
            if pulled is not None:
                return pulled
        return self._by_etag(calendar_url, state)

    def _sync(self, calendar_url: str, token: str | None) -> Pulled | None:
        """A sync-collection read; None when the server cannot do one (read by ETags instead)."""
        from caldav.lib.error import AuthorizationError

        changed_etags: dict[str, str | None] = {}
        removed: set[str] = set()
        full = not token
        for _page in range(MAX_SYNC_PAGES):
            body = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
                    f'<D:sync-token>{escape(token or "")}</D:sync-token><D:sync-level>1</D:sync-level>'
                    '<D:prop><D:getetag/></D:prop></D:sync-collection>')
            try:
                resp = self.client.request(calendar_url, "REPORT", body, {"Depth": "0", **_XML})
            except AuthorizationError:  # caldav raises on any 403: also "valid-sync-token" (RFC 6578 3.2)
                if token:
                    token, full, changed_etags, removed = None, True, {}, set()
                    continue
                self._check_login(calendar_url)
                return None
            if resp.status in (409, 412) and token:  # other servers' answers to a forgotten token
                token, full, changed_etags, removed = None, True, {}, set()
                continue
            if resp.status != 207 or resp.tree is None:
                if resp.status >= 500:
                    raise CalendarServerError(f"sync-collection REPORT: HTTP {resp.status}")
                return None
            new_token, truncated = None, False
            for href, status, props in self._responses(resp.tree):
                if self._same(href, calendar_url):
                    truncated = truncated or status == 507
                    continue
                if status == 404:
                    removed.add(href)
                    changed_etags.pop(href, None)
                else:
                    changed_etags[href] = props.get(_tag(DAV, "getetag"))
                    removed.discard(href)
            token_el = resp.tree.find(_tag(DAV, "sync-token"))
            new_token = token_el.text.strip() if token_el is not None and token_el.text else None
            if new_token is None:
                return None
            token = new_token
            if not truncated:
                pulled = Pulled(token=new_token, ctag=None, mode="sync-token", removed=removed,
                                listed=set(changed_etags) if full else None)
                pulled.changed = self._multiget(calendar_url, changed_etags)
                pulled.removed |= {h for h in changed_etags if h not in pulled.changed}
                return pulled
        raise CalendarServerError("sync-collection REPORT: still truncated after many pages")

    def _by_etag(self, calendar_url: str, state: PullState) -> Pulled:
        ctag = self._ctag(calendar_url)
        if ctag is not None and ctag == state.ctag and state.mode == "etag":
            return Pulled(token=None, ctag=ctag, mode="etag")
        body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">'
                '<D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>')
        resp = self.client.request(calendar_url, "PROPFIND", body, {"Depth": "1", **_XML})
        if resp.status != 207 or resp.tree is None:
            raise CalendarServerError(f"PROPFIND (ETags): HTTP {resp.status}")
        listing: dict[str, str | None] = {}
        for href, status, props in self._responses(resp.tree):
            if self._same(href, calendar_url) or status == 404 or props.get("collection"):
                continue
            listing[href] = props.get(_tag(DAV, "getetag"))
        want = {h: e for h, e in listing.items() if e is None or state.etags.get(h) != e}
        pulled = Pulled(token=None, ctag=ctag, mode="etag", listed=set(listing))
        pulled.changed = self._multiget(calendar_url, want)
        pulled.removed = set(state.etags) - set(listing) | {h for h in want if h not in pulled.changed}
        return pulled

    def _ctag(self, calendar_url: str) -> str | None:
        body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
                '<D:prop><CS:getctag/></D:prop></D:propfind>')
        resp = self.client.request(calendar_url, "PROPFIND", body, {"Depth": "0", **_XML})
        if resp.status != 207 or resp.tree is None:
            raise CalendarServerError(f"PROPFIND (getctag): HTTP {resp.status}")
        for _href, _status, props in self._responses(resp.tree):
            if props.get(_tag(CS, "getctag")):
                return props[_tag(CS, "getctag")]
        return None

    def _check_login(self, calendar_url: str) -> None:
        """After a 403 to a first sync-collection: a refused login raises, a server without the
        report (or refusing it) returns and is read by ETags."""
        self._ctag(calendar_url)

    def _multiget(self, calendar_url: str, hrefs: dict[str, str | None]) -> dict[str, tuple[str | None, str]]:
        out: dict[str, tuple[str | None, str]] = {}
        items = sorted(hrefs)
        for i in range(0, len(items), MULTIGET_BATCH):
            refs = "".join(f"<D:href>{escape(h)}</D:href>" for h in items[i:i + MULTIGET_BATCH])
            body = ('<?xml version="1.0" encoding="utf-8"?>'
                    '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                    f'<D:prop><D:getetag/><C:calendar-data/></D:prop>{refs}</C:calendar-multiget>')
            resp = self.client.request(calendar_url, "REPORT", body, {"Depth": "1", **_XML})
            if resp.status != 207 or resp.tree is None:
                raise CalendarServerError(f"calendar-multiget REPORT: HTTP {resp.status}")
            for href, status, props in self._responses(resp.tree):
                data = props.get(_tag(CAL, "calendar-data"))
                if status != 404 and data:
                    out[href] = (props.get(_tag(DAV, "getetag")), data)
        return out

    @staticmethod
    def _path(href: str) -> str:
        return urlsplit(href).path or href

    def _same(self, href: str, calendar_url: str) -> bool:
        return self._path(href).rstrip("/") == self._path(calendar_url).rstrip("/")

    def _responses(self, tree: object) -> list[tuple[str, int, dict[str, str]]]:
        """(href path, status, {property tag: text}) of each DAV:response in a multistatus."""
        out = []
        for r in tree.iter(_tag(DAV, "response")):  # type: ignore[attr-defined]  # an lxml element (DAVResponse.tree)
            href_el = r.find(_tag(DAV, "href"))
            if href_el is None or not href_el.text:
                continue
            status = _status(r.find(_tag(DAV, "status")))
            props: dict[str, str] = {}
            for ps in r.findall(_tag(DAV, "propstat")):
                if _status(ps.find(_tag(DAV, "status"))) != 200:
                    continue
                for prop in ps.iter(_tag(DAV, "prop")):
                    for p in prop:
                        if p.tag == _tag(DAV, "resourcetype"):
                            if p.find(_tag(DAV, "collection")) is not None:
                                props["collection"] = "1"
                        elif p.text:
                            props[p.tag] = p.text.strip() if p.tag != _tag(CAL, "calendar-data") else p.text
            out.append((self._path(href_el.text.strip()), status if status else 200, props))
        return out

    # -- writing -----------------------------------------------------------------------------
    def put(self, url: str, text: str, *, etag: str | None, create: bool) -> tuple[str, str | None]:
        """("ok", new etag or None) or ("precondition", None): the resource exists (create) or
        changed (If-Match)."""
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if create:
            headers["If-None-Match"] = "*"
        elif etag:
            headers["If-Match"] = etag
        resp = self.client.request(url, "PUT", text, headers)
        if resp.status in (200, 201, 204):
            return "ok", resp.headers.get("ETag")
        if resp.status == 412:
            return "precondition", None
        raise CalendarServerError(f"PUT: HTTP {resp.status}")

    def delete(self, url: str, etag: str | None) -> str:
        """"ok", "gone" (already deleted) or "precondition" (changed in the calendar first)."""
        resp = self.client.request(url, "DELETE", "", {"If-Match": etag} if etag else {})
        if resp.status in (200, 204):
            return "ok"
        if resp.status == 404:
            return "gone"
        if resp.status == 412:
            return "precondition"
        raise CalendarServerError(f"DELETE: HTTP {resp.status}")


def _status(el: object) -> int | None:
    text = getattr(el, "text", None)
    if not text:
        return None
    parts = text.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
