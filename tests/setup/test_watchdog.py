"""Watchdog pings reach a real notify socket at half systemd's interval; none outside systemd."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from appliance.setup.watchdog import start_watchdog, watchdog_interval


def test_interval_is_half_the_timeout_and_only_for_this_process() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


async def test_pings_arrive_on_the_notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "100000")  # 0.1 s: pings every 0.05 s
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        healthy = [True]
        task = start_watchdog(healthy=lambda: healthy[0])
        assert task is not None
        loop = asyncio.get_running_loop()
        try:
            got = [await asyncio.wait_for(loop.sock_recv(server, 64), 10) for _ in range(3)]
            assert got == [b"WATCHDOG=1"] * 3
            healthy[0] = False  # a service that knows it is broken stops pinging
            await asyncio.sleep(0.2)
            while True:
                try:
                    server.recv(64)
                except BlockingIOError:
                    break
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(loop.sock_recv(server, 64), 0.5)
        finally:
            task.cancel()


async def test_no_task_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert start_watchdog() is None
