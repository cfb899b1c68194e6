"""systemd watchdog pings (`WatchdogSec=` in the unit): an asyncio task sending WATCHDOG=1.

systemd passes `WATCHDOG_USEC` (and `WATCHDOG_PID`) to the service; the task pings at half
that interval while the event loop runs. A wedged loop stops the pings and systemd restarts
the service. `healthy` lets the service withhold pings when it knows it is broken.
Outside systemd (no `WATCHDOG_USEC`) nothing is started.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

from appliance.logs import get_logger

log = get_logger(__name__)


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) about readiness and liveness; a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(message.encode())


def watchdog_interval(env: dict[str, str] | None = None) -> float | None:
    """Seconds between pings (half of systemd's timeout), or None when no watchdog is asked for."""
    env = dict(os.environ) if env is None else env
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2_000_000 if value > 0 else None


async def ping_forever(interval: float, notify: Callable[[str], None] = sd_notify,
                       healthy: Callable[[], bool] = lambda: True) -> None:
    """Ping every `interval` seconds until cancelled; the socket write runs off the event loop."""
    while True:
        if healthy():
            try:
                await asyncio.to_thread(notify, "WATCHDOG=1")
            except OSError as e:
                log.warning("watchdog.notify_failed", error=str(e))
        await asyncio.sleep(interval)


def start_watchdog(healthy: Callable[[], bool] = lambda: True) -> asyncio.Task[None] | None:
    """Start the ping task if systemd asked for a watchdog; cancel the returned task on stop."""
    interval = watchdog_interval()
    if interval is None:
        return None
    log.info("watchdog.started", interval_s=round(interval, 2))
    return asyncio.get_running_loop().create_task(ping_forever(interval, healthy=healthy), name="sd-watchdog")
