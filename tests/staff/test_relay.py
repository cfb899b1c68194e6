"""The outbox relay against a local HTTPS receiver that checks signatures and de-duplicates by
idempotency key: killed with SIGKILL while messages are pending, restarted, every message is
seen exactly once; failures are retried with back-off."""

from __future__ import annotations

import json
import os
import signal
import ssl
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appliance.config import Settings, load_settings
from appliance.records.outbox import OutboxMessage, backoff
from appliance.records.relay import Relay
from appliance.records.rotate import resolve_key
from appliance.records.store import Records
from appliance.setup.tls import write_self_signed
from appliance.staff.console import endpoints, open_repo
from appliance.staff.events import EventBus
from appliance.staff.relay import BusSink
from appliance.staff.webhooks import WebhookSink, verify
from tests.staff import seed

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"0123456789abcdef0123456789abcdef"


class Receiver:
    """An HTTPS endpoint that accepts each idempotency key once (later copies get 200, not re-applied)."""

    def __init__(self, tmp: Path, *, hold_at: int | None = None) -> None:
        self.cert, key = tmp / "recv.crt", tmp / "recv.key"
        write_self_signed(self.cert, key, ["127.0.0.1"], "test receiver")
        self.applied: dict[str, int] = {}
        self.requests = 0
        self.duplicates = 0
        self.bad_signatures = 0
        self.hold_at = hold_at
        self.holding = threading.Event()
        self.release = threading.Event()
        self.fail_next = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not verify(SECRET, self.headers["X-Appliance-Timestamp"], body, self.headers["X-Appliance-Signature"]):
                    outer.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                msg_key = self.headers["Idempotency-Key"]
                assert json.loads(body)["id"] == msg_key
                with lock:
                    outer.requests += 1
                    n = outer.requests
                    if outer.fail_next > 0:
                        outer.fail_next -= 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    if msg_key in outer.applied:
                        outer.duplicates += 1
                    else:
                        outer.applied[msg_key] = n
                if outer.hold_at is not None and n == outer.hold_at:
                    outer.holding.set()  # applied, but the relay has not heard back yet
                    outer.release.wait(30)
                    return
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def _config(tmp: Path, recv: Receiver) -> Path:
    secret = tmp / "hook.secret"
    secret.write_bytes(SECRET)
    cfg = tmp / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp / "var"}"\n\n[[webhooks.endpoints]]\nname = "pms"\nurl = "{recv.url}"\n'
                   f'secret_file = "{secret}"\nca_file = "{recv.cert}"\n')
    return cfg


def _relay_process(cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "appliance", "--config", str(cfg), "staff", "relay"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def open_records(settings: Settings) -> Records:
    """The record store in this (synchronous) test process, with the configured outbox endpoints."""
    records = Records.open(settings.db_path, resolve_key(settings.db_path, settings.db_key_file))
    records.outbox_set_endpoints(endpoints(settings), time.time())
    return records


def _pending(records: Records, endpoint: str) -> int:
    return records.outbox_undelivered(endpoint)


@pytest.mark.slow
def test_relay_killed_mid_delivery_delivers_each_message_exactly_once(tmp_path: Path):
    recv = Receiver(tmp_path, hold_at=4)
    cfg = _config(tmp_path, recv)
    settings = load_settings(cfg)
    repo = open_records(settings)
    ids = [seed.escalation(repo, severity="urgent", category=f"concern-{i}") for i in range(12)]
    assert _pending(repo, "pms") == 12
    proc = _relay_process(cfg)
    try:
        assert recv.holding.wait(60), "the relay never reached the receiver"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert 0 < _pending(repo, "pms") <= 9  # killed with messages still pending
        recv.release.set()
        proc = _relay_process(cfg)
        deadline = time.monotonic() + 60
        while _pending(repo, "pms") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _pending(repo, "pms") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        recv.close()
    outbox_ids = [r[0] for r in repo.conn.execute("SELECT msg_id FROM outbox ORDER BY seq")]
    repo.close()
    assert len(outbox_ids) == len(ids)
    assert sorted(recv.applied) == sorted(outbox_ids)  # every message applied exactly once
    assert recv.duplicates >= 1  # the one in flight at the kill was sent again and recognised
    assert recv.bad_signatures == 0


async def test_failed_delivery_is_retried_with_backoff(tmp_path: Path):
    recv = Receiver(tmp_path)
    recv.fail_next = 2
    settings = load_settings(_config(tmp_path, recv))
    now = [1000.0]
    repo = await open_repo(settings, lambda: now[0])
    try:
        await repo.records.run(lambda r: seed.escalation(r, severity="routine", category="question"))
        sink = WebhookSink("pms", recv.url, SECRET, ca_file=recv.cert)
        relay = Relay(repo, [sink], clock=lambda: now[0])
        assert await relay.run_once() == 0  # 503
        assert await relay.run_once() == 0  # not due yet: waits backoff(1)
        now[0] += backoff(1)
        assert await relay.run_once() == 0  # 503 again
        now[0] += backoff(2) - 0.01
        assert await relay.run_once() == 0  # still waiting: backoff doubles
        now[0] += 0.02
        assert await relay.run_once() == 1
        assert recv.requests == 3 and len(recv.applied) == 1
    finally:
        await repo.close()
        recv.close()


def test_backoff_doubles_and_caps():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(50) == 300.0


async def test_webhook_refuses_plain_http():
    with pytest.raises(Exception, match="https"):
        WebhookSink("x", "http://127.0.0.1:1/", SECRET)


async def test_topic_filter_skips_other_topics(tmp_path: Path):
    sink = WebhookSink("x", "https://127.0.0.1:9/", SECRET, topics=("summary.",))
    await sink.deliver(OutboxMessage(1, "id", "escalation.raised", {}, "2026-01-01T00:00:00+00:00", 0))  # no connection


def test_cli_add_user_and_export(tmp_path: Path):
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "appliance", "--config", str(cfg), "staff"]
    r = subprocess.run([*run, "add-user", "nina", "--role", "clinician", "--password-stdin"], input=b"a long password\n",
                       capture_output=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*run, "add-user", "nina", "--role", "clinician", "--password-stdin"], input=b"a long password\n",
                       capture_output=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and b"already exists" in r.stderr
    r = subprocess.run([*run, "add-user", "bob", "--role", "clinician", "--password-stdin"], input=b"short\n",
                       capture_output=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and b"10 characters" in r.stderr
    repo = open_records(load_settings(cfg))
    seed.escalation(repo, severity="urgent", category="=HYPERLINK(\"x\")", patient_ref="P-1")
    repo.close()
    r = subprocess.run([*run, "export", "--csv", "--as", "nina"], capture_output=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("record_type,id,patient_ref") and "escalation" in lines[1]
    assert "'=HYPERLINK" in lines[1]  # spreadsheet formulas neutralised
    out = tmp_path / "export.csv"
    out.write_text("an older export\n")
    out.chmod(0o644)  # a file left readable by others is narrowed before patient data goes in
    for path in (out, tmp_path / "new-export.csv"):
        r = subprocess.run([*run, "export", "--csv", "--as", "nina", "--out", str(path)], capture_output=True, env=env,
                           cwd=ROOT, timeout=60)
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text().startswith("record_type,id")
    r = subprocess.run([*run, "export", "--fhir", "--as", "nina"], capture_output=True, env=env, cwd=ROOT, timeout=60)
    bundle = json.loads(r.stdout)
    assert bundle["resourceType"] == "Bundle" and bundle["entry"][0]["resource"]["resourceType"] == "Task"
    assert bundle["entry"][0]["resource"]["priority"] == "urgent"
    repo = open_records(load_settings(cfg))
    actions = [e["action"] for e in repo.audit_events(10_000)]
    repo.close()
    assert "export.csv" in actions and "export.fhir" in actions and "user.add" in actions
    # One audit trail: `appliance audit verify` walks the console's events with the rest.
    r = subprocess.run([sys.executable, "-m", "appliance", "--config", str(cfg), "audit", "verify", "--json"],
                       capture_output=True, env=env, cwd=ROOT, timeout=60)
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ok"] and report["events"] == len(actions)


async def test_live_page_events_carry_no_phi():
    bus = EventBus()
    q = bus.subscribe()
    summary = {"slots": {"name": "Zanzibarella Quixotic", "callback_number": "4155550199"}, "intent": "booking"}
    await BusSink(bus).deliver(OutboxMessage(7, "m-7", "call.summary", {"call_id": 3, "pbx_call_id": "pbx-9",
                                                                         "summary": summary}, "t", 0))
    event = q.get_nowait()
    assert event == {"call_id": 3, "topic": "call.summary", "msg_id": "m-7"}
