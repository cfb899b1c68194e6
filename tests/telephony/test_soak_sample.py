"""A short sample of the soak (benchmarks/soak.py) in the suite: `appliance run` in trunk mode with
its real models on loopback, three callers placing calls for about 100 seconds (shorter, the first
quarter's warm-up weighs on the RSS comparison), a caller who
vanishes after the ACK, 1 % malformed or oversized datagrams from the allowed source (floods of
hostile SIP in alternate 10-second windows), red-flag sentences in synthesised speech.

Promises checked (benchmarks.soak.check): every line freed at the end, RSS growth under 5 %
between the first and last quarter, every logged escalation stored in the encrypted database,
no more RTP gaps over 100 ms while hostile datagrams are parsed than without them, and SIP
handling never held the event loop for half of any 100 ms (so no gap comes from parsing). About 2.5
minutes of wall time; the long soak is `python -m benchmarks.soak --minutes 30`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.soak import Options, Soak, check

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(shutil.which("sox") is None, reason="sox is installed by make test (provisioning/apt-test.txt)"),
]


def test_a_short_soak_frees_every_line_keeps_every_escalation_and_its_memory(tmp_path: Path) -> None:
    opts = Options(minutes=1.65, calls=3, out=tmp_path)
    result = Soak(opts, say=lambda _m: None).run()
    print(json.dumps(result, indent=2))  # the figures, for the test log
    assert result["answered"] >= 6 and result["vanished"] >= 1
    assert result["junk_rtp"] > 0 and result["junk_sip"] > 0
    assert result["red_flag_calls"] >= 1
    assert check(result) == [], result
