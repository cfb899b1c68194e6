"""Recording metadata (RFC 7865, `application/rs-metadata+xml`): who the participants are and
which stream each one sends, and from that which recorded stream is the patient's.

The XML comes from the PBX and is parsed defensively with the standard library's expat: at
most `MAX_BYTES`, UTF-8 only, no document type declaration (so no entity is ever declared or
expanded: no "billion laughs", no external entity), bounded depth, element count and text.
Anything else raises `MetadataError` (the edge answers 400 and logs it). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn
from xml.parsers import expat

MAX_BYTES = 8192
MAX_ELEMENTS = 400
MAX_DEPTH = 12
MAX_TEXT = 512
NAMESPACE = "urn:ietf:params:xml:ns:recording:1"


class MetadataError(ValueError):
    """The metadata is not usable recording metadata (answer 400)."""


@dataclass
class _Element:
    name: str  # local name (namespace dropped)
    attrs: dict[str, str]
    text: str = ""
    children: list[_Element] = field(default_factory=list)

    def all(self, name: str) -> list[_Element]:
        return [c for c in self.children if c.name == name]

    def first_text(self, name: str) -> str:
        found = self.all(name)
        return found[0].text.strip() if found else ""


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _refuse(*_: Any) -> NoReturn:
    raise MetadataError("a document type declaration is not allowed")


def _tree(data: bytes) -> _Element:
    if len(data) > MAX_BYTES:
        raise MetadataError(f"metadata larger than {MAX_BYTES} bytes")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError("metadata is not UTF-8") from None
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    stack: list[_Element] = []
    root: list[_Element] = []
    count = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS or len(stack) >= MAX_DEPTH:
            raise MetadataError("metadata too large or too deep")
        el = _Element(_local(name), {_local(k): v[:MAX_TEXT] for k, v in attrs.items()})
        (stack[-1].children if stack else root).append(el)
        stack.append(el)

    def end(_name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack and len(stack[-1].text) < MAX_TEXT:
            stack[-1].text = (stack[-1].text + data)[:MAX_TEXT]

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise MetadataError(f"malformed XML ({expat.ErrorString(e.code)})") from None
    if len(root) != 1 or root[0].name != "recording":
        raise MetadataError("the root element is not <recording>")
    return root[0]


@dataclass(frozen=True)
class Participant:
    id: str
    aor: str = ""  # e.g. "sip:5550106666@pbx.example"; "" when the metadata names none
    name: str = ""  # display name, as sent: hostile
    sends: tuple[str, ...] = ()  # stream ids this participant sends


@dataclass(frozen=True)
class RecordingMetadata:
    participants: tuple[Participant, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)  # stream id -> SDP a=label

    def sent_labels(self, p: Participant) -> set[str]:
        return {self.labels[s] for s in p.sends if s in self.labels}


def parse_metadata(data: bytes) -> RecordingMetadata:
    """Participants (with their address of record) and the streams they send (RFC 7865
    `<participantstreamassoc>`/`<send>`, or `<send>` inside `<participant>` as early drafts had it)."""
    root = _tree(data)
    labels = {s.attrs.get("stream_id", ""): s.first_text("label") for s in root.all("stream")}
    labels = {k: v for k, v in labels.items() if k and v}
    sends: dict[str, list[str]] = {}
    for assoc in root.all("participantstreamassoc"):
        pid = assoc.attrs.get("participant_id", "")
        sends.setdefault(pid, []).extend(s.text.strip() for s in assoc.all("send") if s.text.strip())
    people = []
    for p in root.all("participant"):
        pid = p.attrs.get("participant_id") or p.attrs.get("id") or ""
        name_id = p.all("nameID")
        aor = (name_id[0].attrs.get("aor", "") if name_id else "") or p.first_text("aor")
        name = name_id[0].first_text("name") if name_id else p.first_text("name")
        own = [s.text.strip() for s in p.all("send") if s.text.strip()]
        people.append(Participant(pid, aor.strip(), name, tuple(own + sends.get(pid, []))))
    return RecordingMetadata(tuple(people), labels)


# ---------------------------------------------------------------- who is who


def aor_user(aor: str) -> str:
    """The user part of a SIP or tel address of record ("sip:5550106666@host" -> "5550106666")."""
    text = aor.strip().strip("<>")
    for scheme in ("sips:", "sip:", "tel:"):
        if text.lower().startswith(scheme):
            text = text[len(scheme):]
            break
    return text.split("@", 1)[0].split(";", 1)[0]


def same_party(a: str, b: str) -> bool:
    """Two user parts name the same phone: equal, or the same digits (at least 7 of them, the
    shorter a suffix of the longer: "+1 555 010 6666" and "5550106666")."""
    if not a or not b:
        return False
    if a.lower() == b.lower():
        return True
    da, db = "".join(c for c in a if c.isdigit()), "".join(c for c in b if c.isdigit())
    short, long_ = sorted((da, db), key=len)
    return len(short) >= 7 and long_.endswith(short)


@dataclass(frozen=True)
class Roles:
    """Each offered stream's role by position ("patient" or "staff"), and who the two sides are."""

    roles: tuple[str, ...]
    patient: str = ""  # the patient's user part (a phone number), "" when unknown
    staff: str = ""  # the staff side's user part (an extension), "" when unknown
    how: str = "first-stream"  # "caller-match" | "first-stream" (unclear: the first stream is the caller)


def assign_roles(labels: list[str], meta: RecordingMetadata | None, caller: str) -> Roles:
    """Which stream is the patient's. The patient is the participant whose address of record is
    the caller (`caller`: the user part of the INVITE's From); when none is, the participant who
    sends the first stream. Streams no participant claims: the first one is the patient's when
    no stream is, the rest are staff."""
    people = list(meta.participants) if meta else []
    patient = next((p for p in people if same_party(aor_user(p.aor), caller)), None)
    how = "caller-match" if patient is not None else "first-stream"
    if patient is None and meta is not None and labels:
        patient = next((p for p in people if labels[0] in meta.sent_labels(p)), None)
    patient_labels = meta.sent_labels(patient) if (meta and patient) else set()
    others = [p for p in people if p is not patient]
    staff_labels = set().union(*(meta.sent_labels(p) for p in others)) if meta and others else set()
    roles = []
    for label in labels:
        if label in patient_labels:
            roles.append("patient")
        elif label in staff_labels:
            roles.append("staff")
        else:
            roles.append("")
    if "patient" not in roles and "" in roles:
        roles[roles.index("")] = "patient"
    roles = [r or "staff" for r in roles]
    staff = next((p for p in others if meta and meta.sent_labels(p)), others[0] if others else None)
    return Roles(tuple(roles), aor_user(patient.aor) if patient else "", aor_user(staff.aor) if staff else "", how)
