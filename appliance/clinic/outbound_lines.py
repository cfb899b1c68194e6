"""The lines of outbound aftercare calls: PACK/outbound.yaml, part of the pack.

The file is validated with the rest of the pack (`schema.OutboundLines`: placeholders, no PHI
before identity) and covered by the pack's own approval hash: a clinician approves the pack,
outbound lines included, with `appliance protocol approve`; any change to them voids it.
"""

from __future__ import annotations

from appliance.clinic.approval import content_hash, read_approval
from appliance.clinic.errors import PackError, PackNotApproved
from appliance.clinic.pack import Pack
from appliance.clinic.schema import OUTBOUND_NO_PHI as NO_PHI
from appliance.clinic.schema import OUTBOUND_PLACEHOLDERS as PLACEHOLDERS
from appliance.clinic.schema import OutboundLines

__all__ = ["LINES_FILE", "NO_PHI", "PLACEHOLDERS", "OutboundLines", "load_lines"]

LINES_FILE = "outbound.yaml"


def load_lines(pack: Pack, *, approved: bool = True) -> OutboundLines:
    """The pack's outbound lines; with `approved`, only if a clinician approved this exact pack."""
    if pack.outbound is None:
        raise PackError(f"{pack.root / LINES_FILE}: no outbound call lines in this pack",
                        fix="add outbound.yaml (see the demo pack), then have a clinician approve the pack "
                            "(`appliance protocol approve`)")
    if approved:
        approval = read_approval(pack.root)
        if approval is None:
            raise PackNotApproved(f"{pack.root}: protocol pack {pack.ref} (with its outbound lines) has not been "
                                  "approved", fix="have a clinician run `appliance protocol approve PACK "
                                                  "--clinician NAME --credential CRED`")
        if approval.sha256 != content_hash(pack) or approval.pack != pack.ref:
            raise PackNotApproved(f"{pack.root}: protocol pack {pack.ref} or its outbound lines changed since "
                                  "approval", code="pack-changed",
                                  fix="have a clinician review and approve the pack again (`appliance protocol approve`)")
    return pack.outbound
