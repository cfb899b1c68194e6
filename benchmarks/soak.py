"""A bounded soak of `appliance run` on loopback: many calls, vanishing callers, hostile datagrams.

`python -m benchmarks.soak --minutes 10 --calls 4` (also `python -m benchmarks --soak 10`) starts
the appliance in trunk mode with its real models (`[sip] rtp_timeout_s = 5`, paging off, the
console on a free port) and keeps `--calls` SIP callers busy for `--minutes`:

- each caller places one call after another (the benchmark caller, `sip_caller.py`): it waits
  for the greeting, says one sentence (synthesised by Piper through a G.711 round trip), a
  red-flag sentence on every `--red-flag-every`-th call, waits for the reply, then hangs up;
- 1 % of callers vanish after the ACK: RTP stops and they never answer or send a BYE (the
  first vanish comes early, so even a short run has one); the appliance must free the line;
- 1 % of the datagrams the callers send are malformed or oversized, from the allowed source:
  after every 99th RTP packet the caller's own RTP socket sends a broken one, and malformed or
  oversized SIP goes to the SIP port from 127.0.0.1 at 1 % of the RTP rate; in alternate
  10-second *flood* windows the SIP junk rises to `--flood-rate` per second.

It reports, and `check()` judges: every line freed at the end (`call.started` = `call.finished`
in the appliance's log, no call row left open, and a last call is answered), RSS growth of the
service and its model workers below 5 % between the first and last quarter (sampled after a
warm-up of one call per caller at once), every `call.escalation` logged is a row in the encrypted database, and the
inter-arrival gaps of the appliance's RTP at the callers (calls without a red flag, whose
transfer puts the caller on hold): stalls over 100 ms (gaps at concurrent callers that overlap
count once) during flood windows against quiet windows, twice the rate and significant at
p < 0.01 (parsing hostile SIP must not stall the media), and a bound that attributes them: the appliance
logs `sip.datagram_stats` every 10 s with the longest datagram's handling time (CPU time of the
loop thread, so other processes taking the CPU do not count as parsing) and the most
handling time inside any 100 ms; media shares the event loop with SIP, so when that stays under
50 ms no RTP gap over 100 ms can come from parsing. Every loop is bounded,
everything runs on 127.0.0.1, and the run ends by itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.corpus import read_wav, telephone_speech
from benchmarks.rtp_endpoint import RtpEndpoint
from benchmarks.sip_caller import CallFailed, SipCaller
from benchmarks.speech import onset_after
from benchmarks.targets import LoggedProcess, free_port, rtp_range

RED_FLAG = "Hi, it's probably nothing, but my vision is blurry since the filler yesterday."
BENIGN = "Hi, I would like to book Botox for my forehead lines."
GAP_MS = 100.0
PARSE_BOUND_MS = 50.0  # SIP handling time allowed within any 100 ms (half the gap a caller hears)
WINDOW_S = 10.0  # flood and quiet windows alternate
RTP_TIMEOUT_S = 5


@dataclass
class Options:
    minutes: float = 10.0
    calls: int = 4  # concurrent callers
    out: Path = Path("benchmarks/results/soak")
    vanish_every: int = 100  # 1 %
    junk_every: int = 100  # 1 % of datagrams
    red_flag_every: int = 4
    flood_rate: float = 25.0  # hostile SIP datagrams per second in flood windows


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    placed: int = 0
    answered: int = 0
    failed: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    red_flags: list[str] = field(default_factory=list)
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (arrival time, gap ms) over 40 ms
    packets: int = 0
    junk_rtp: int = 0
    junk_sip: int = 0
    replies: int = 0

    def next_index(self) -> int:
        with self.lock:
            self.placed += 1
            return self.placed


class JunkRtp(RtpEndpoint):
    """The caller's RTP endpoint that also sends a broken datagram after every `every - 1` good ones."""

    def __init__(self, host: str, every: int, tally: Tally) -> None:
        super().__init__(host)
        self.every = every
        self.tally = tally
        self._n = 0
        self._rng = random.Random(secrets.randbits(32))

    def _send_one(self, now: float) -> None:
        super()._send_one(now)
        self._n += 1
        if self._n % (self.every - 1) == 0 and self.remote is not None:
            try:
                self.sock.sendto(rtp_junk(self._rng), self.remote)
                with self.tally.lock:
                    self.tally.junk_rtp += 1
            except OSError:
                pass


def rtp_junk(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 12))  # shorter than an RTP header
    if kind == 1:
        return bytes([0x8F, 0x00]) + rng.randbytes(10)  # 15 CSRCs announced, none there
    if kind == 2:
        return bytes([0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]) + rng.randbytes(20000)  # oversized PCMU
    return bytes([0x40]) + rng.randbytes(171)  # RTP version 1


def sip_junk(rng: random.Random, port: int, sip_port: int) -> bytes:
    cid = f"junk-{secrets.token_hex(6)}"
    head = (f"INVITE sip:clinic@127.0.0.1:{sip_port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK"
            f"{secrets.token_hex(6)}\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\n")
    kind = rng.randrange(5)
    if kind == 0:
        return (head + "X-Pad: " + "a" * 20000 + "\r\n\r\n").encode()  # oversized: 513
    if kind == 1:
        return (head + "From: " + "<sip:" * 2500 + "\r\nTo: <sip:clinic@127.0.0.1>\r\n\r\n").encode()  # hostile From
    if kind == 2:
        return (head + "".join(f"X-H{i}: v\r\n" for i in range(200)) + "\r\n").encode()  # too many headers
    if kind == 3:
        return rng.randbytes(rng.randrange(1, 1400))  # not SIP at all
    return (head.replace("CSeq: 1 INVITE\r\n", "CSeq: nine INVITE\r\n") + "From: <sip:a@127.0.0.1>;tag=1\r\n"
            "To: <sip:clinic@127.0.0.1>\r\nContent-Length: 99999\r\n\r\nv=0").encode()


def config(work: Path, calls: int) -> tuple[Path, int]:
    sip_port = free_port()
    lo, hi = rtp_range()
    work.mkdir(parents=True, exist_ok=True)
    path = work / "appliance.toml"
    path.write_text(
        f'[paths]\ndata_dir = "{work / "var"}"\n\n'
        f'[sip]\nmode = "trunk"\nbind_host = "127.0.0.1"\nbind_port = {sip_port}\n'
        f'allowed_sources = ["127.0.0.1/32"]\nmax_calls = {calls + 4}\nrtp_port_min = {lo}\nrtp_port_max = {hi}\n'
        f"rtp_timeout_s = {RTP_TIMEOUT_S}\n\n"
        f'[console]\nbind_host = "127.0.0.1"\nport = {free_port(socket.SOCK_STREAM)}\ntest_calls = false\n\n'
        '[paging]\nenabled = false\n\n'
        '[models]\nisolation = "process"\n\n[logging]\nlevel = "info"\nformat = "json"\n')
    return path, sip_port


class Soak:
    def __init__(self, opts: Options, say: Any = print) -> None:
        self.opts = opts
        self.say = say
        self.tally = Tally()
        self.work = opts.out / "tmp"
        self.work.mkdir(parents=True, exist_ok=True)
        self.t0 = 0.0
        self.deadline = 0.0
        self.rss: list[tuple[float, int]] = []
        self.clips: dict[str, np.ndarray] = {}

    # -- set-up ---------------------------------------------------------------------------------
    def _clip(self, name: str, text: str) -> np.ndarray:
        path = self.work / f"{name}.wav"
        if not path.exists():
            telephone_speech(text, path, voice="piper")
        return read_wav(path)[0]

    def start(self) -> None:
        self.clips = {"red-flag": self._clip("red-flag", RED_FLAG), "benign": self._clip("benign", BENIGN)}
        self.config, self.sip_port = config(self.work / "appliance", self.opts.calls)
        self.app = LoggedProcess([sys.executable, "-m", "appliance", "--config", str(self.config), "run", "--no-progress"],
                                 self.work / "appliance" / "appliance.log", events_on="stderr")
        self.app.wait_event("appliance.ready", timeout=300)

    def pids(self) -> list[int]:
        try:
            proc = psutil.Process(self.app.proc.pid)
            return [proc.pid, *(c.pid for c in proc.children(recursive=True))]
        except psutil.Error:
            return []

    def rss_now(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                pass
        return total

    # -- one call -------------------------------------------------------------------------------
    def call(self, index: int, *, allow_vanish: bool = True) -> None:
        t = self.tally
        caller = SipCaller(("127.0.0.1", self.sip_port), user=f"55501{index:05d}")
        caller.rtp.close()
        caller.rtp = JunkRtp("127.0.0.1", self.opts.junk_every, t)
        vanish = allow_vanish and index % self.opts.vanish_every == 2  # the second call, then every 100th
        red = index % self.opts.red_flag_every == 1
        try:
            caller.invite(timeout=20)
            with t.lock:
                t.answered += 1
            if vanish:
                time.sleep(1.0)
                with t.lock:
                    t.vanished.append(caller.call_id)
                caller.close()  # no RTP, no answers, no BYE: only the appliance's timeout frees the line
                return
            self._quiet(caller, 1.0, 12.0)  # the greeting (talking over it would hold the agent's audio)
            clip = caller.rtp.play(self.clips["red-flag" if red else "benign"])
            if red:
                with t.lock:
                    t.red_flags.append(caller.call_id)
            end = time.monotonic() + 25.0
            while caller.rtp.pending() and time.monotonic() < end and not caller.remote_bye.is_set():
                time.sleep(0.05)
            said = (caller.rtp.sent_times(clip) or [time.monotonic()])[-1]
            while time.monotonic() < end and not caller.remote_bye.is_set():
                if onset_after(caller.rtp.snapshot(), said + 0.3) is not None:
                    with t.lock:
                        t.replies += 1
                    break
                time.sleep(0.1)
            time.sleep(2.0)  # some of the reply
            caller.bye()
        except CallFailed as e:
            with t.lock:
                t.failed.append(str(e))
        finally:
            if not vanish:
                if not red:  # a red flag's transfer holds the call (no RTP while on hold): not a parsing gap
                    self._gaps(caller.rtp.snapshot())
                caller.close()

    @staticmethod
    def _quiet(caller: SipCaller, quiet_s: float, limit_s: float) -> None:
        """Wait (at most `limit_s`) until the appliance has sent no speech for `quiet_s`."""
        start = time.monotonic()
        while time.monotonic() - start < limit_s and not caller.remote_bye.is_set():
            speech = [a.t for a in caller.rtp.snapshot() if a.speech]
            if time.monotonic() - start > 2.0 and (not speech or time.monotonic() - speech[-1] > quiet_s):
                return
            time.sleep(0.1)

    def _gaps(self, arrivals: list[Any]) -> None:
        times = [a.t for a in arrivals]
        if len(times) < 3:
            return
        d = np.diff(np.array(times[1:-1]))  # not the first (set-up) and last (hang-up) packet
        with self.tally.lock:
            self.tally.packets += len(d)
            self.tally.gaps += [(times[i + 2], float(g) * 1000) for i, g in enumerate(d) if g > 0.04]

    def _stall_counts(self, gaps: list[tuple[float, float]]) -> dict[str, int]:
        """Gaps over 100 ms merged into stalls: one stall of the appliance's loop (or of this
        process's receivers) shows as one gap at every concurrent caller, counted once here."""
        spans = sorted((tt - g / 1000, tt) for tt, g in gaps if tt >= self.t0 and g > GAP_MS)
        ends: list[float] = []
        for start, end in spans:
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                ends.append(end)
        flood = sum(1 for e in ends if self.flooding(e))
        return {"stalls_over_100ms_flood": flood, "stalls_over_100ms_quiet": len(ends) - flood}

    # -- the load -------------------------------------------------------------------------------
    def flooding(self, t: float) -> bool:
        return int((t - self.t0) // WINDOW_S) % 2 == 1

    def caller_loop(self) -> None:
        while time.monotonic() < self.deadline:  # bounded by the run's deadline; each call bounded too
            self.call(self.tally.next_index())

    def junk_loop(self) -> None:
        rng = random.Random(7)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            port = s.getsockname()[1]
            background = max(0.2, 50.0 * self.opts.calls / self.opts.junk_every)
            while time.monotonic() < self.deadline:
                now = time.monotonic()
                rate = self.opts.flood_rate if self.flooding(now) else background
                try:
                    s.sendto(sip_junk(rng, port, self.sip_port), ("127.0.0.1", self.sip_port))
                    with self.tally.lock:
                        self.tally.junk_sip += 1
                except OSError:
                    pass
                for _ in range(64):  # drain the 400/513 answers
                    try:
                        s.recv(65535)
                    except OSError:
                        break
                time.sleep(1.0 / rate)

    def rss_loop(self) -> None:
        while time.monotonic() < self.deadline:
            self.rss.append((time.monotonic(), self.rss_now()))
            time.sleep(2.0)

    def run(self) -> dict[str, Any]:
        self.start()
        try:
            self.say(f"warm-up: {self.opts.calls} calls at once (not measured)")
            warm = [threading.Thread(target=self.call, args=(0,), kwargs={"allow_vanish": False}, daemon=True)
                    for _ in range(self.opts.calls)]
            for th in warm:
                th.start()
            for th in warm:
                th.join(timeout=120)
            self.tally = Tally()
            self.t0 = time.monotonic()
            self.deadline = self.t0 + self.opts.minutes * 60
            self.say(f"soak: {self.opts.calls} callers for {self.opts.minutes:g} min")
            threads = [threading.Thread(target=self.caller_loop, daemon=True) for _ in range(self.opts.calls)]
            threads += [threading.Thread(target=self.junk_loop, daemon=True),
                        threading.Thread(target=self.rss_loop, daemon=True)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=self.opts.minutes * 60 + 120)
            stuck = sum(th.is_alive() for th in threads)
            duration = time.monotonic() - self.t0
            freed = self._wait_freed(RTP_TIMEOUT_S + 15)
            probe = self._probe()
        finally:
            self.app.stop()
        return self.result(duration, freed, probe, stuck)

    def _counts(self) -> tuple[int, int]:
        return len(self.app.select("call.started")), len(self.app.select("call.finished"))

    def _wait_freed(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            started, finished = self._counts()
            if started == finished:
                return True
            time.sleep(0.5)
        return False

    def _probe(self) -> bool:
        """A last call is answered: the lines are free on the SIP side too."""
        caller = SipCaller(("127.0.0.1", self.sip_port), user="5550199999")
        try:
            caller.invite(timeout=10)
            caller.bye()
            return True
        except CallFailed:
            return False
        finally:
            caller.close()
            time.sleep(1.0)

    # -- the result -----------------------------------------------------------------------------
    def _database(self) -> dict[str, Any]:
        from appliance.config import load_settings
        from appliance.records.rotate import resolve_key
        from appliance.records.store import Records

        settings = load_settings(self.config)
        records = Records.open(settings.db_path, resolve_key(settings.db_path, settings.db_key_file))
        try:
            rows = records.conn.execute("SELECT c.pbx_call_id, count(*) FROM escalations e JOIN calls c "
                                        "ON c.id = e.call_id GROUP BY c.pbx_call_id").fetchall()
            open_calls = records.conn.execute("SELECT count(*) FROM calls WHERE ended_at IS NULL").fetchone()[0]
            calls = records.conn.execute("SELECT count(*) FROM calls").fetchone()[0]
        finally:
            records.close()
        return {"escalations": {str(r[0]): int(r[1]) for r in rows}, "open_calls": int(open_calls),
                "calls": int(calls)}

    def result(self, duration: float, freed: bool, probe: bool, stuck: int) -> dict[str, Any]:
        t = self.tally
        db = self._database()
        logged: dict[str, int] = {}
        for e in self.app.select("call.escalation"):
            logged[str(e.get("call_id"))] = logged.get(str(e.get("call_id")), 0) + 1
        missing = {cid: n - db["escalations"].get(cid, 0) for cid, n in logged.items()
                   if db["escalations"].get(cid, 0) < n}
        timeouts = [e for e in self.app.select("call.timeout") if e.get("reason") == "rtp-timeout"]
        quarter = duration / 4
        first = [r for tt, r in self.rss if tt - self.t0 <= quarter]
        last = [r for tt, r in self.rss if tt - self.t0 >= 3 * quarter]
        growth = (np.mean(last) / np.mean(first) - 1) * 100 if first and last else None
        flood_s = sum(min(WINDOW_S, duration - k * WINDOW_S) for k in range(1, int(duration // WINDOW_S) + 1, 2))
        quiet_s = duration - flood_s
        flood = [g for tt, g in t.gaps if tt >= self.t0 and self.flooding(tt)]
        quiet = [g for tt, g in t.gaps if tt >= self.t0 and not self.flooding(tt)]
        started, finished = self._counts()
        sip = [e for e in self.app.select("sip.datagram_stats")]
        return {
            "minutes": round(duration / 60, 2), "callers": self.opts.calls, "placed": t.placed, "answered": t.answered,
            "failed": len(t.failed), "failures": t.failed[:5], "replies": t.replies,
            "vanished": len(t.vanished), "rtp_timeouts": len(timeouts),
            "vanished_freed": sum(1 for cid in t.vanished if any(e.get("call_id") == cid for e in timeouts)),
            "red_flag_calls": len(t.red_flags),
            "red_flag_calls_escalated": sum(1 for cid in t.red_flags if logged.get(cid)),
            "escalations_logged": sum(logged.values()), "escalations_stored": sum(db["escalations"].values()),
            "escalations_missing": missing,
            "calls_started": started, "calls_finished": finished, "lines_freed": freed, "open_call_rows": db["open_calls"],
            "last_call_answered": probe, "threads_stuck": stuck,
            "junk_rtp": t.junk_rtp, "junk_sip": t.junk_sip, "rtp_packets_timed": t.packets,
            "rss_first_quarter_mib": round(float(np.mean(first)) / 2**20, 1) if first else None,
            "rss_last_quarter_mib": round(float(np.mean(last)) / 2**20, 1) if last else None,
            "rss_growth_pct": None if growth is None else round(float(growth), 2),
            "flood_s": round(flood_s, 1), "quiet_s": round(quiet_s, 1),
            "gap_max_flood_ms": round(max(flood, default=0.0), 1), "gap_max_quiet_ms": round(max(quiet, default=0.0), 1),
            "gaps_over_100ms_flood": sum(1 for g in flood if g > GAP_MS),
            "gaps_over_100ms_quiet": sum(1 for g in quiet if g > GAP_MS),
            **self._stall_counts(t.gaps),
            "sip_datagrams": sum(int(e.get("datagrams", 0)) for e in sip),
            "sip_malformed": max((int(e.get("malformed", 0)) + int(e.get("too_large", 0)) for e in sip), default=0),
            "sip_max_datagram_ms": max((float(e.get("max_datagram_ms", 0.0)) for e in sip), default=None),
            "sip_busiest_100ms_ms": max((float(e.get("busiest_100ms_ms", 0.0)) for e in sip), default=None),
            "gc_max_in_sip_ms": max((float(e.get("max_gc_in_handler_ms", 0.0)) for e in sip), default=None),
        }


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely `k` of `n` stalls fall in windows that hold a
    share `p` of the time, if the windows made no difference."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def check(r: dict[str, Any]) -> list[str]:
    """What the soak promises; each broken promise as one line (empty: all kept)."""
    bad = []
    if not (r["lines_freed"] and r["calls_started"] == r["calls_finished"] and r["open_call_rows"] == 0):
        bad.append(f"lines not freed: {r['calls_started']} started, {r['calls_finished']} finished, "
                   f"{r['open_call_rows']} call rows open")
    if not r["last_call_answered"]:
        bad.append("the last call after the soak was not answered")
    if r["vanished"] and r["vanished_freed"] != r["vanished"]:
        bad.append(f"{r['vanished'] - r['vanished_freed']} vanished callers not freed by rtp-timeout")
    if r["escalations_missing"]:
        bad.append(f"escalations logged but not stored: {r['escalations_missing']}")
    if r["rss_growth_pct"] is None or r["rss_growth_pct"] >= 5.0:
        bad.append(f"RSS growth {r['rss_growth_pct']} % (limit 5 %)")
    # Stalls the flood causes: more stalls over 100 ms per second in flood windows than in quiet
    # ones (the machine's own stalls hit both alike; one stray stall is allowed), by a margin the
    # counts can show: at least twice the quiet rate, and unlikely (p < 0.01) if the flood made no
    # difference. A short sample on a busy machine counts a handful of stalls either way.
    flood_n, quiet_n = r["stalls_over_100ms_flood"], r["stalls_over_100ms_quiet"]
    flood_rate = flood_n / max(1.0, r["flood_s"])
    quiet_rate = quiet_n / max(1.0, r["quiet_s"])
    share = r["flood_s"] / max(1.0, r["flood_s"] + r["quiet_s"])
    if flood_n > 1 and flood_rate > 2 * quiet_rate and binomial_tail(flood_n, flood_n + quiet_n, share) < 0.01:
        bad.append(f"RTP stalls over 100 ms during the hostile-datagram flood: {flood_n} (quiet windows: "
                   f"{quiet_n}; gaps at the callers {r['gaps_over_100ms_flood']} and "
                   f"{r['gaps_over_100ms_quiet']}), max {r['gap_max_flood_ms']} ms")
    # What parsing can cause at most: the event loop (which paces the agent's RTP) was never held by
    # SIP handling for more than PARSE_BOUND_MS of any 100 ms, so no gap over 100 ms comes from it.
    if r["sip_busiest_100ms_ms"] is None:
        bad.append("no sip.datagram_stats in the appliance's log: SIP handling time was not measured")
    elif r["sip_busiest_100ms_ms"] >= PARSE_BOUND_MS:
        bad.append(f"SIP handling held the event loop {r['sip_busiest_100ms_ms']} ms within 100 ms "
                   f"(longest datagram {r['sip_max_datagram_ms']} ms, garbage collection taken out; "
                   f"bound {PARSE_BOUND_MS:g} ms)")
    if r["failed"] or r["threads_stuck"]:
        bad.append(f"{r['failed']} calls failed ({r['failures'][:2]}), {r['threads_stuck']} threads stuck")
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of call traffic (default 10; 0.5 to 240)")
    p.add_argument("--calls", type=int, default=4, help="concurrent callers (default 4; 1 to 12)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/soak"), help="soak.json and logs (tmp/)")
    a = p.parse_args(argv)
    if not 0.5 <= a.minutes <= 240 or not 1 <= a.calls <= 12:
        p.error("--minutes 0.5 to 240, --calls 1 to 12")
    opts = Options(minutes=a.minutes, calls=a.calls, out=a.out)
    result = Soak(opts, say=lambda m: print(f"[soak] {m}", file=sys.stderr, flush=True)).run()
    result["problems"] = check(result)
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print("soak " + ("FAILED:\n  " + "\n  ".join(result["problems"]) if result["problems"] else "passed"),
          file=sys.stderr)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    os.environ.pop("APPLIANCE_CONFIG", None)
    sys.exit(main())
