"""The approved lines of outbound aftercare calls: PACK/outbound/lines.yaml and its approval.

The lines are clinical content like the rest of the pack: a clinician approves them with
`appliance aftercare approve-lines`, which records a sha256 over the lines *and* the pack's
content hash in PACK/outbound/approval.yaml. A changed line, or a changed pack, voids it.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from appliance.clinic.approval import content_hash
from appliance.clinic.errors import PackError, PackNotApproved
from appliance.clinic.pack import Pack, _problems
from appliance.clinic.yamlload import YamlProblem, load_located

Text = Annotated[str, StringConstraints(min_length=1, max_length=600, strip_whitespace=True)]
Phrase = Annotated[str, StringConstraints(min_length=2, max_length=80, strip_whitespace=True)]
LINES_FILE = Path("outbound") / "lines.yaml"
APPROVAL_FILE = Path("outbound") / "approval.yaml"
PLACEHOLDERS = frozenset({"clinic", "phone", "treatment", "date", "from_date", "to_date", "when", "kind"})
NO_PHI = ("opener", "ask_name", "ask_dob", "identity_retry", "identity_failed", "voicemail", "wrong_person",
          "opt_out_ack", "goodbye")
_PHI_PLACEHOLDERS = frozenset({"treatment", "date", "from_date", "to_date", "when", "kind"})


class OutboundLines(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    opener: Text
    ask_name: Text
    ask_dob: Text
    identity_retry: Text
    identity_failed: Text
    voicemail: Text
    wrong_person: Text
    intro_check_in: Text
    intro_review: Text
    intro_touch_up: Text
    intro_recall: Text
    intro_series: Text
    instructions_intro: Text
    no_concern: Text
    review_reminder: Text
    offer_booking: Text
    booking_declined: Text
    opt_out_ack: Text
    goodbye: Text
    answering_machine_phrases: list[Phrase] = Field(min_length=1)
    wrong_person_phrases: list[Phrase] = Field(min_length=1)
    opt_out_phrases: list[Phrase] = Field(min_length=1)

    @model_validator(mode="after")
    def _placeholders(self) -> OutboundLines:
        for name, text in self:
            if not isinstance(text, str):
                continue
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            if used - PLACEHOLDERS:
                raise ValueError(f"{name}: unknown placeholder {{{sorted(used - PLACEHOLDERS)[0]}}}")
            if name in NO_PHI and used & _PHI_PLACEHOLDERS:
                raise ValueError(f"{name}: is spoken before identity is confirmed and must not name "
                                 f"{{{sorted(used & _PHI_PLACEHOLDERS)[0]}}}")
        return self


@dataclass(frozen=True)
class LinesApproval:
    approver: str
    credential: str
    approved_at: str
    sha256: str
    scope: str


def lines_hash(pack: Pack, data: object) -> str:
    canonical = json.dumps({"pack": content_hash(pack), "lines": data}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _read(pack: Pack) -> tuple[OutboundLines, object]:
    path = pack.root / LINES_FILE
    if not path.is_file():
        raise PackError(f"{path}: no outbound call lines in this pack",
                        fix="add outbound/lines.yaml (see the demo pack) and have a clinician approve it")
    try:
        located = load_located(path)
    except YamlProblem as e:
        raise PackError(f"{path}:{e.line or '?'}: {e.message}", fix="correct the file at that line") from e
    try:
        return OutboundLines.model_validate(located.data), located.data
    except ValidationError as e:
        raise PackError(f"{path}: the outbound call lines are not valid", problems=_problems(e, located, str(LINES_FILE)),
                        fix="correct each line shown, then approve again") from e


def load_lines(pack: Pack, *, approved: bool = True) -> OutboundLines:
    """The lines for calls; with `approved`, only if a clinician approved exactly these lines and pack."""
    lines, data = _read(pack)
    if not approved:
        return lines
    path = pack.root / APPROVAL_FILE
    if not path.is_file():
        raise PackNotApproved(f"{path}: the outbound call lines of {pack.ref} have not been approved",
                              fix="have a clinician run `appliance aftercare approve-lines PACK --clinician NAME "
                                  "--credential CRED`")
    record = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(record, dict) or record.get("sha256") != lines_hash(pack, data):
        raise PackNotApproved(f"{path}: the outbound call lines or the pack changed since approval",
                              code="pack-changed", fix="have a clinician review and approve the lines again")
    return lines


def approve_lines(pack: Pack, clinician: str, credential: str, now: datetime, scope: str = "clinical") -> LinesApproval:
    clinician, credential = clinician.strip(), credential.strip()
    if not clinician or not credential:
        raise PackError("approval needs the clinician's name and credential",
                        fix="pass --clinician 'NAME' --credential 'LICENCE OR TITLE'")
    _, data = _read(pack)
    a = LinesApproval(clinician, credential, now.isoformat(timespec="seconds"), lines_hash(pack, data), scope)
    header = ("# Written by `appliance aftercare approve-lines`. The sha256 covers the outbound lines and\n"
              "# the pack's content; any change to either voids this approval.\n")
    body = yaml.safe_dump({"pack": pack.ref, **a.__dict__}, sort_keys=False, allow_unicode=True)
    tmp = pack.root / (str(APPROVAL_FILE) + ".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    tmp.replace(pack.root / APPROVAL_FILE)
    return a
