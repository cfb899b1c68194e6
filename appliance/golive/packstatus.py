"""The protocol pack's go-live status: which pack, who approved it and when, and whether it may
take patient calls. Shared by `appliance doctor` (one line per problem, each with its fix) and
the console's banner. `assess` is pure (the time comes in); `pack_status` reads the pack."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from appliance.config import Settings


@dataclass(frozen=True)
class Problem:
    code: str  # pack-demo | pack-unapproved | pack-changed | pack-invalid | approval-old
    detail: str
    fix: str


@dataclass(frozen=True)
class PackStatus:
    path: str
    ref: str | None  # name@version, when the pack loads
    demo: bool
    approver: str | None = None
    credential: str | None = None
    approved_at: str | None = None
    scope: str | None = None
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

    def approval_line(self) -> str:
        if self.approver is None:
            return "not approved"
        return f"approved by {self.approver} ({self.credential}) on {(self.approved_at or '')[:10]}"


def months_between(earlier: datetime, later: datetime) -> int:
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (1 if later.day < earlier.day else 0)


def assess(status: PackStatus, now: datetime, max_months: int) -> PackStatus:
    """Add the demo and approval-age problems to a loaded pack's status."""
    problems = list(status.problems)
    fix_own = ("install the clinic's own pack, reviewed by a licensed clinician: set [clinic] pack = \"/path/to/pack\" "
               "and run `appliance protocol approve PACK --clinician NAME --credential CRED` (docs/installers.md, "
               "going live)")
    if status.demo or status.scope == "demo":
        problems.append(Problem("pack-demo", f"{status.ref} is DEMO content no clinician reviewed "
                                f"(scope {status.scope or 'demo'}): only test calls are answered", fix_own))
    if status.approved_at and status.scope != "demo":
        when = datetime.fromisoformat(status.approved_at)
        if when.tzinfo is None and now.tzinfo is not None:
            when = when.replace(tzinfo=now.tzinfo)
        age = months_between(when, now)
        if age >= max_months:
            problems.append(Problem("approval-old", f"{status.ref} was approved {age} months ago "
                                    f"({status.approved_at[:10]}; the limit is [golive] approval_max_months = "
                                    f"{max_months})", "have a clinician review the pack and approve it again "
                                    "(`appliance protocol approve PACK --clinician NAME --credential CRED`)"))
    return PackStatus(status.path, status.ref, status.demo, status.approver, status.credential, status.approved_at,
                      status.scope, tuple(problems))


def pack_status(settings: Settings, now: datetime) -> PackStatus:
    """The configured pack (default: the demo pack) as it would be loaded for calls."""
    from appliance.clinic.approval import content_hash, read_approval
    from appliance.clinic.errors import PackError
    from appliance.clinic.pack import DEMO_PACK, load_pack
    from appliance.errors import ApplianceError

    root = Path(settings.clinic.pack or DEMO_PACK)
    try:
        pack = load_pack(root)
    except (PackError, ApplianceError) as e:
        return PackStatus(str(root), None, False, problems=(Problem("pack-invalid", e.message.splitlines()[0],
                                                                    e.fix or "correct the pack"),))
    demo = bool(pack.clinic.pack.demo)
    try:
        approval = read_approval(root)
    except ApplianceError as e:
        return PackStatus(str(root), pack.ref, demo, problems=(Problem("pack-unapproved", e.message,
                                                                       e.fix or "approve the pack"),))
    if approval is None:
        return assess(PackStatus(str(root), pack.ref, demo, problems=(Problem(
            "pack-unapproved", f"{pack.ref} has never been approved by a clinician",
            f"have a licensed clinician review it, then run `appliance protocol approve {root} --clinician NAME "
            "--credential CRED`"),)), now, settings.golive.approval_max_months)
    problems: list[Problem] = []
    digest = content_hash(pack)
    if digest != approval.sha256 or approval.pack != pack.ref:
        problems.append(Problem("pack-changed", f"{pack.ref} changed since {approval.approver} approved "
                                f"{approval.pack} on {approval.approved_at[:10]} (content {digest[:12]} != approved "
                                f"{approval.sha256[:12]})", "have a clinician review the changes and approve again "
                                f"(`appliance protocol approve {root} --clinician NAME --credential CRED`)"))
    status = PackStatus(str(root), pack.ref, demo, approval.approver, approval.credential, approval.approved_at,
                        approval.scope, tuple(problems))
    return assess(status, now, settings.golive.approval_max_months)
