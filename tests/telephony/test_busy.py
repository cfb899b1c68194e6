"""The SIP handling-time meter: the longest datagram and the busiest 100 ms window."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.telephony.busy import BusyMeter


def test_busiest_window_sums_handling_inside_100_ms_only() -> None:
    m = BusyMeter(window_s=0.1)
    for i in range(10):  # 10 datagrams of 2 ms, 10 ms apart: 20 ms handling in 100 ms
        m.add(i * 0.010, 0.002)
    m.add(5.0, 0.030)  # a long one, alone, much later
    f = m.take()
    assert f.datagrams == 11
    assert f.max_ms == pytest.approx(30.0)
    assert f.total_ms == pytest.approx(50.0)
    assert f.busiest_window_ms == pytest.approx(30.0)  # the lone 30 ms beats 10 x 2 ms spread over 100 ms


def test_back_to_back_datagrams_add_up_and_a_new_period_starts_empty() -> None:
    m = BusyMeter(window_s=0.1)
    t = 0.0
    for _ in range(60):  # 60 x 2 ms back to back: the loop was held 100 ms out of 100 ms
        m.add(t, 0.002)
        t += 0.002
    f = m.take()
    assert f.busiest_window_ms == pytest.approx(100.0, rel=0.03)
    assert m.take().datagrams == 0 and m.take().busiest_window_ms == 0.0


def test_a_slow_sip_handler_is_measured_and_fails_the_soak_bound() -> None:
    """The soak's attribution can fail: a request handler that holds the loop 60 ms shows up in the
    transport's figures, and `benchmarks.soak.check` names it."""
    import time

    from appliance.telephony.guard import SourceGuard
    from appliance.telephony.transport import SipTransport
    from benchmarks.soak import check

    def slow(_msg: object, _addr: object) -> None:
        # 60 ms of this thread's CPU, which is what the meter counts (wall time on a loaded machine
        # includes time the thread was not running)
        end = time.thread_time() + 0.061
        while time.thread_time() < end:
            pass

    sip = SipTransport(SourceGuard(["127.0.0.0/8"]), slow)
    options = (b"OPTIONS sip:appliance@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-1\r\n"
               b"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:appliance@127.0.0.1>\r\nCall-ID: busy-1\r\n"
               b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    sip.datagram_received(options, ("127.0.0.1", 5999))
    sip.datagram_received(b"\x00garbage", ("127.0.0.1", 5999))
    figures = sip.take_stats()
    assert figures["datagrams"] == 2 and figures["malformed"] == 1
    assert figures["busiest_100ms_ms"] >= 60.0 and figures["max_datagram_ms"] >= 60.0
    quiet = {"lines_freed": True, "calls_started": 1, "calls_finished": 1, "open_call_rows": 0,
             "last_call_answered": True, "vanished": 0, "vanished_freed": 0, "escalations_missing": {},
             "rss_growth_pct": 0.0, "gaps_over_100ms_flood": 0, "gaps_over_100ms_quiet": 0, "flood_s": 10.0,
             "stalls_over_100ms_flood": 0, "stalls_over_100ms_quiet": 0,
             "quiet_s": 10.0, "gap_max_flood_ms": 0.0, "failed": 0, "failures": [], "threads_stuck": 0,
             "sip_max_datagram_ms": 0.4, "sip_busiest_100ms_ms": 2.0}
    assert check(quiet) == []
    slow_run = {**quiet, "sip_max_datagram_ms": figures["max_datagram_ms"], "sip_busiest_100ms_ms": figures["busiest_100ms_ms"]}
    assert [p for p in check(slow_run) if p.startswith("SIP handling held the event loop")], check(slow_run)


def test_a_garbage_collection_inside_a_handler_is_reported_on_its_own() -> None:
    """A collection any allocation could have started is not the handler's work: it is taken out of
    the handler's time and reported as the longest collection instead."""
    import gc

    from appliance.telephony.guard import SourceGuard
    from appliance.telephony.transport import SipTransport

    live = [[i, [i]] for i in range(400_000)]  # objects a full collection must walk

    def collecting(_msg: object, _addr: object) -> None:
        gc.collect()

    sip = SipTransport(SourceGuard(["127.0.0.0/8"]), collecting)
    options = (b"OPTIONS sip:appliance@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-2\r\n"
               b"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:appliance@127.0.0.1>\r\nCall-ID: busy-2\r\n"
               b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    sip.datagram_received(options, ("127.0.0.1", 5999))
    figures = sip.take_stats()
    assert len(live) == 400_000
    assert figures["max_gc_in_handler_ms"] > 5.0, figures
    assert figures["max_datagram_ms"] < figures["max_gc_in_handler_ms"] / 2, figures


def test_the_soak_counts_one_stall_at_every_caller_once_and_judges_the_flood_by_what_counts_can_show(
        tmp_path: Path) -> None:
    from benchmarks.soak import Options, Soak, check

    soak = Soak(Options(minutes=1.0, calls=3, out=tmp_path), say=lambda _m: None)
    soak.t0 = 1000.0
    # One 150 ms stall heard by three callers at once (quiet window), one heard by two (flood
    # window, 10-20 s), and a lone short gap that is not a stall.
    gaps = [(1005.00, 150.0), (1005.01, 151.0), (1005.02, 149.0),
            (1012.00, 120.0), (1012.05, 160.0), (1013.0, 60.0)]
    assert soak._stall_counts(gaps) == {"stalls_over_100ms_flood": 1, "stalls_over_100ms_quiet": 1}
    base = {"lines_freed": True, "calls_started": 1, "calls_finished": 1, "open_call_rows": 0,
            "last_call_answered": True, "vanished": 0, "vanished_freed": 0, "escalations_missing": {},
            "rss_growth_pct": 0.0, "gap_max_flood_ms": 217.0, "failed": 0, "failures": [], "threads_stuck": 0,
            "sip_max_datagram_ms": 3.5, "sip_busiest_100ms_ms": 4.2, "flood_s": 52.4, "quiet_s": 60.0,
            "gaps_over_100ms_flood": 11, "gaps_over_100ms_quiet": 5}
    # A short sample: 11 stalls against 5 is more than twice the rate, but as likely as 6 % by chance.
    assert check({**base, "stalls_over_100ms_flood": 11, "stalls_over_100ms_quiet": 5}) == []
    # A flood that stalls the media: 30 against 3 is not chance.
    flooded = check({**base, "stalls_over_100ms_flood": 30, "stalls_over_100ms_quiet": 3})
    assert [p for p in flooded if p.startswith("RTP stalls over 100 ms during the hostile-datagram flood: 30")], flooded
