"""SIP reason phrases: taken from pyVoIP's status table (it holds up), with a fallback."""

from __future__ import annotations

import pyVoIP.VoIP  # noqa: F401  (imports pyVoIP.SIP in the order that avoids its circular import)
from pyVoIP.SIP import SIPStatus


def reason(code: int) -> str:
    try:
        return str(SIPStatus(code).phrase)
    except ValueError:
        return {1: "Provisional", 2: "OK", 3: "Redirect", 4: "Client Error", 5: "Server Error"}.get(code // 100, "Error")
