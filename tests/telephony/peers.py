"""Real SIP peers for the tests: kamailio as the clinic PBX (registrar + proxy) on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.telephony.conftest import free_udp_port

DEBIAN_CFG = Path("/etc/kamailio/kamailio.cfg")


def write_baresip_config(home: Path, port: int, source: Path, account: str, *, rec: Path | None = None,
                         stdio: bool = False, extra: str = "") -> Path:
    """A baresip home on loopback: plays `source` into calls, records what it hears into `rec`
    (default home/rec), G.711 only. Returns the recordings folder."""
    rec = rec or home / "rec"
    rec.mkdir(parents=True, exist_ok=True)
    # Modules in `extra` (srtp.so) load before the accounts that name them (mediaenc=srtp-mand).
    modules = "".join(line + "\n" for line in extra.splitlines() if line.startswith("module "))
    extra = "".join(line + "\n" for line in extra.splitlines() if not line.startswith("module "))
    (home / "config").write_text(
        "module_path /usr/lib/baresip/modules\n" + modules +
        f"sip_listen 127.0.0.1:{port}\nnet_interface 127.0.0.1\n"
        f"audio_player aufile,/dev/null\naudio_alert aufile,/dev/null\naudio_source aufile,{source}\n"
        + ("module stdio.so\n" if stdio else "")
        + "module account.so\nmodule g711.so\nmodule aufile.so\nmodule sndfile.so\n"
        f"module_app menu.so\nsnd_path {rec}\n{extra}")
    (home / "accounts").write_text(account + "\n")
    return rec


@asynccontextmanager
async def kamailio(tmp_path: Path, port: int | None = None, ring_timeout_s: int = 120,
                   max_expires_s: int = 3600) -> AsyncIterator[int]:
    """Debian's sample kamailio.cfg plus a loopback listen line, in the foreground; yields its port.

    `ring_timeout_s` is the PBX's ring timeout (tm `fr_inv_timer`): an unanswered INVITE gets 408.
    `max_expires_s` caps the registration expiry the registrar grants.
    """
    port = port or free_udp_port()
    run, cfg = await asyncio.to_thread(_write_config, tmp_path, port, ring_timeout_s, max_expires_s)
    async with run_kamailio(run, cfg):
        await _wait_ready(port)
        yield port


@asynccontextmanager
async def run_kamailio(run: Path, cfg: Path) -> AsyncIterator[None]:
    """kamailio with `cfg` in the foreground (its log in `run`), stopped on exit."""
    log = await asyncio.to_thread((run / "kamailio.log").open, "ab")
    proc = await asyncio.create_subprocess_exec(
        "kamailio", "-f", str(cfg), "-E", "-DD", "-n", "1", "-Y", str(run), "-P", str(run / "kamailio.pid"),
        stdout=log, stderr=log, start_new_session=True)
    try:
        yield
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        log.close()


def _write_config(tmp_path: Path, port: int, ring_timeout_s: int = 120,
                  max_expires_s: int = 3600) -> tuple[Path, Path]:
    run = tmp_path / f"kamailio-{port}"
    run.mkdir(exist_ok=True)
    text = DEBIAN_CFG.read_text()
    text = text.replace("children=8", "children=2")
    text = text.replace('"fr_inv_timer", 120000', f'"fr_inv_timer", {ring_timeout_s * 1000}')
    text = text.replace('modparam("registrar", "max_expires", 3600)',
                        f'modparam("registrar", "max_expires", {max_expires_s})\n'
                        f'modparam("registrar", "min_expires", {min(60, max_expires_s)})')
    text = text.replace("#!KAMAILIO", f"#!KAMAILIO\nlisten=udp:127.0.0.1:{port}", 1)
    cfg = run / "kamailio.cfg"
    cfg.write_text(text)
    return run, cfg


async def _wait_ready(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    me = sock.getsockname()[1]
    try:
        for i in range(50):
            opts = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKready{i}\r\n"
                    f"From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: ready{i}\r\n"
                    "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
            sock.sendto(opts.encode(), ("127.0.0.1", port))
            try:
                await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.2)
                return
            except TimeoutError:
                continue
        raise RuntimeError("kamailio did not start")
    finally:
        sock.close()


class Baresip:
    """A baresip softphone on loopback, driven through its stdin (menu commands).

    `account` is the accounts line; `source` the WAV it plays into calls; it records what it
    hears into `rec/` (sndfile: one `*-dec.wav` per call).
    """

    def __init__(self, home: Path, account: str, source: Path | None = None, extra_config: str = "") -> None:
        self.home = home
        self.extra_config = extra_config
        self.port = free_udp_port()
        self.account = account
        self.source = source
        self.rec = home / "rec"
        self.out: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    def _write(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.rec.mkdir(parents=True, exist_ok=True)
        if self.source is None:
            self.source = self.home / "silence.wav"
            with wave.open(str(self.source), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(bytes(2 * 8000 * 120))
        write_baresip_config(self.home, self.port, self.source, self.account, rec=self.rec, stdio=True,
                             extra=self.extra_config)

    async def start(self) -> None:
        await asyncio.to_thread(self._write)
        self.proc = await asyncio.create_subprocess_exec(
            "baresip", "-f", str(self.home), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        while line := await self.proc.stdout.readline():
            self.out.append(line.decode(errors="replace").rstrip())

    async def wait_for(self, text: str, limit_s: float = 15.0, start: int = 0) -> str:
        """The first output line (from index `start`) containing `text`."""
        async with asyncio.timeout(limit_s):
            while True:
                for line in self.out[start:]:
                    if text in line:
                        return line
                await asyncio.sleep(0.05)

    def command(self, cmd: str) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(cmd.encode() + b"\n")

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.out[-n:])

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        if self._reader:
            await asyncio.wait_for(self._reader, 5)


@asynccontextmanager
async def baresip(home: Path, account: str, source: Path | None = None,
                  extra_config: str = "") -> AsyncIterator[Baresip]:
    phone = Baresip(home, account, source, extra_config)
    await phone.start()
    try:
        yield phone
    finally:
        await phone.stop()


async def registered_phone(home: Path, kport: int, user: str, *, answer: str = "auto", source: Path | None = None,
                           extra_config: str = "") -> Baresip:
    """Start a baresip registered at kamailio as `user` (answermode auto/manual); the caller stops it."""
    phone = Baresip(home, f"<sip:{user}@127.0.0.1:{kport}>;auth_pass=x;answermode={answer};regint=300",
                    source, extra_config)
    await phone.start()
    try:
        await phone.wait_for("200 OK", limit_s=15)
    except BaseException:
        await phone.stop()
        raise
    return phone
