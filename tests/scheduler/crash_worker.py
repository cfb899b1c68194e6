"""A scheduler worker in its own process, for the crash tests: claim the due contacts at the
given virtual time, say so, then hang as if in the middle of the call (the test SIGKILLs it)."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.config import OutboundSettings
from appliance.records.audit import Access
from appliance.records.keys import read_key
from appliance.scheduler.setup import open_store


def main() -> None:
    db_path, key_file, now, lease_s = Path(sys.argv[1]), Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), \
        float(sys.argv[4])
    store = open_store(db_path, read_key(key_file), load_pack(DEMO_PACK), OutboundSettings())
    claims = store.claim_due(Access("system:crash-worker", "outbound-call"), now, "crash-worker",
                             timedelta(seconds=lease_s), 5)
    print("CLAIMED " + " ".join(f"{c.contact_id}:{c.token}" for c in claims), flush=True)
    while True:  # "dialing": the call is in progress when the process is killed
        time.sleep(1)


if __name__ == "__main__":
    main()
