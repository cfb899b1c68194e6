"""Real SIP peers for the tests: kamailio as the clinic PBX (registrar + proxy) on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.telephony.conftest import free_udp_port

DEBIAN_CFG = Path("/etc/kamailio/kamailio.cfg")


@asynccontextmanager
async def kamailio(tmp_path: Path, port: int | None = None) -> AsyncIterator[int]:
    """Debian's sample kamailio.cfg plus a loopback listen line, in the foreground; yields its port."""
    port = port or free_udp_port()
    run, cfg = await asyncio.to_thread(_write_config, tmp_path, port)
    log = await asyncio.to_thread((run / "kamailio.log").open, "ab")
    proc = await asyncio.create_subprocess_exec(
        "kamailio", "-f", str(cfg), "-E", "-DD", "-n", "1", "-Y", str(run), "-P", str(run / "kamailio.pid"),
        stdout=log, stderr=log, start_new_session=True)
    try:
        await _wait_ready(port)
        yield port
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        log.close()


def _write_config(tmp_path: Path, port: int) -> tuple[Path, Path]:
    run = tmp_path / f"kamailio-{port}"
    run.mkdir(exist_ok=True)
    text = DEBIAN_CFG.read_text()
    text = text.replace("children=8", "children=2")
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
