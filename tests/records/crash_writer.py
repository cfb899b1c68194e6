"""A writer process for the crash test: commits escalations (with outbox messages and audit
events) as fast as it can and prints each committed id on stdout right after COMMIT returns."""

from __future__ import annotations

import sys
from pathlib import Path

from appliance.conversation import Escalation
from appliance.records.audit import Access
from appliance.records.keys import read_key
from appliance.records.store import Records


def main(db: str, key_file: str, limit: int) -> None:
    records = Records.open(Path(db), read_key(Path(key_file)))
    system = Access("system:crash-test", "call", "crash-call")
    records.start_call(system, "crash-call", "inbound", None)
    print("ready", flush=True)
    for i in range(limit):
        msg_id = records.record_escalation(system, "crash-call", Escalation("urgent", f"cat-{i}", i, "x" * 200))
        print(msg_id, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
