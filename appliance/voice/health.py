"""Which call was using a model when its worker failed.

A voice session sets `current_call` for its own tasks; `CallPool` carries it into the call's
worker threads (where `loop.run_in_executor` would drop it). A proxy that sees its worker die
or time out calls `report_failure`, which tells the call in whose context the request ran,
once per role, so the session can speak its fallback line and hand the caller to a person.
Requests outside any call (start-up, the pager's briefs) report to nobody.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from appliance.errors import ApplianceError


class ModelUnavailableError(ApplianceError):
    """A model's worker died, hung, or is restarting: this request got no answer."""

    code = "model-unavailable"

    def __init__(self, message: str, *, role: str, fix: str | None = None) -> None:
        super().__init__(message, fix=fix or "the worker restarts by itself; `appliance doctor` tests every model")
        self.role = role


class CallHealth:
    """One call's view of model failures: `on_failure(role, detail)` runs once per role."""

    def __init__(self, on_failure: Callable[[str, str], object]) -> None:
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self.failed: dict[str, str] = {}

    def failure(self, role: str, detail: str) -> None:
        with self._lock:
            if role in self.failed:
                return
            self.failed[role] = detail
        self._on_failure(role, detail)


current_call: contextvars.ContextVar[CallHealth | None] = contextvars.ContextVar("current_call", default=None)


def report_failure(error: ModelUnavailableError) -> None:
    health = current_call.get()
    if health is not None:
        health.failure(error.role, error.message)


class CallPool(ThreadPoolExecutor):
    """A call's worker threads that run each job in the context it was submitted from."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)
