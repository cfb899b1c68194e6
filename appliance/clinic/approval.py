"""Clinician approval of a pack: who approved which exact content, and when.

The hash covers the canonical content (every pack file parsed and re-serialised as sorted
JSON, keyed by its relative path), so a comment or indentation change does not void an
approval but any change of content, and any added or removed file, does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from appliance.clinic.errors import PackError, PackNotApproved
from appliance.clinic.pack import APPROVAL_FILE, Pack, load_pack
from appliance.clinic.yamlload import YamlProblem, load_located


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"unexpected value in pack: {type(value).__name__}")


def content_hash(pack: Pack) -> str:
    canonical = json.dumps(pack.data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Approval:
    pack: str
    approver: str
    credential: str
    approved_at: str
    sha256: str
    scope: str = "clinical"  # "demo" for the shipped demo pack: approved for demonstration only


def read_approval(root: Path) -> Approval | None:
    path = Path(root) / APPROVAL_FILE
    if not path.is_file():
        return None
    try:
        data = load_located(path).data
    except YamlProblem as e:
        raise PackNotApproved(f"{path}:{e.line or '?'}: approval record unreadable: {e.message}",
                              fix="approve the pack again with `appliance protocol approve`") from e
    fields = {"pack", "approver", "credential", "approved_at", "sha256"}
    if not isinstance(data, dict) or not fields <= data.keys():
        raise PackNotApproved(f"{path}: approval record incomplete; expected {sorted(fields)}",
                              fix="approve the pack again with `appliance protocol approve`")
    return Approval(**{k: str(data[k]) for k in fields}, scope=str(data.get("scope", "clinical")))


def approve(root: Path, clinician: str, credential: str, now: datetime, scope: str = "clinical") -> Approval:
    """Validate the pack and record the approval (raises PackError if the pack is invalid)."""
    clinician, credential = clinician.strip(), credential.strip()
    if not clinician or not credential:
        raise PackError("approval needs the clinician's name and credential",
                        fix="pass --clinician 'NAME' --credential 'LICENCE OR TITLE'")
    pack = load_pack(root)
    approval = Approval(pack=pack.ref, approver=clinician, credential=credential,
                        approved_at=now.isoformat(timespec="seconds"), sha256=content_hash(pack), scope=scope)
    header = ("# Written by `appliance protocol approve`. The sha256 covers the pack's content;\n"
              "# any change to the content voids this approval until a clinician approves again.\n")
    body = yaml.safe_dump(approval.__dict__, sort_keys=False, allow_unicode=True)
    tmp = Path(root) / (APPROVAL_FILE + ".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    tmp.replace(Path(root) / APPROVAL_FILE)
    return approval


def load_approved(root: Path) -> tuple[Pack, Approval]:
    """The pack for taking calls: valid, approved, and unchanged since approval; else a typed error."""
    pack = load_pack(root)
    approval = read_approval(root)
    if approval is None:
        raise PackNotApproved(f"{root}: protocol pack {pack.ref} has not been approved by a clinician",
                              fix=f"have a licensed clinician review it, then run `appliance protocol approve {root} "
                                  "--clinician NAME --credential CRED`")
    digest = content_hash(pack)
    if digest != approval.sha256:
        raise PackNotApproved(
            f"{root}: protocol pack {pack.ref} changed since {approval.approver} approved it on "
            f"{approval.approved_at} (content hash {digest[:12]} != approved {approval.sha256[:12]})",
            code="pack-changed",
            fix="have a clinician review the changes and approve again (`appliance protocol approve`)")
    if approval.pack != pack.ref:
        raise PackNotApproved(f"{root}: approval is for {approval.pack}, the pack is {pack.ref}", code="pack-changed",
                              fix="approve the new version with `appliance protocol approve`")
    return pack, approval
