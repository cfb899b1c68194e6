"""Start a group of models (`appliance.voice.engines.WORKER_GROUPS`) in its own worker process
and hand back their engines: the same wrappers a call uses in process, over the worker's proxies."""

from __future__ import annotations

from collections.abc import Mapping

from appliance.config import Settings
from appliance.inference.client import ModelWorker
from appliance.inference.proxies import remote_engine
from appliance.models.resolver import ResolvedModel
from appliance.voice.engines import WORKER_GROUPS


def start_worker(group: str, models: Mapping[str, ResolvedModel],
                 settings: Settings) -> tuple[ModelWorker, dict[str, object]]:
    """Start one group's worker (blocking: loads and self-tests its models) and its engines."""
    roles = tuple(r for r in WORKER_GROUPS[group] if r in models)
    worker = ModelWorker(group, roles, dict(models), settings, selftest=settings.models.selftest)
    worker.start()
    return worker, {role: remote_engine(worker, role, settings) for role in roles}
