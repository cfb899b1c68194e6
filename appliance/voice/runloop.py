"""One call's Pipecat worker, run until the call is over.

The call ends in one of two ways: the caller (or the appliance) hangs up, which the transport
reports through `CallState.hung_up`, or the pipeline ends by itself (an error cancelled it).
With `drain_s` (the voice session), a hang-up lets the worker end by itself for up to that long:
the transport's `EndWorkerFrame` flushes the pipeline, so the caller's last words (a turn still
in its end-of-turn silence, or being transcribed, when they hung up) still reach the
conversation and its red-flag check; nothing is played on the call that is gone. Without it
(the benchmark's stock pipeline) a hang-up cancels the worker at once.
"""

from __future__ import annotations

import asyncio

from pipecat.pipeline.worker import PipelineWorker
from pipecat.workers.runner import WorkerRunner

from appliance.voice.transport import CallState

SETTLE_S = 5.0  # how long a cancelled worker may take to wind down


async def run_until_hangup(worker: PipelineWorker, state: CallState, *, settle_s: float = SETTLE_S,
                           drain_s: float = 0.0) -> None:
    """Run `worker` to the end of the call. An error the runner raised is raised here; a worker
    that does not wind down within `settle_s` of the hang-up (or of this task being cancelled),
    after `drain_s` to end by itself, is cancelled and left behind, so the caller's clean-up
    always runs."""
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    hung_up = asyncio.create_task(state.hung_up.wait())
    try:
        await asyncio.wait({running, hung_up}, return_when=asyncio.FIRST_COMPLETED)
        if hung_up.done() and not running.done() and drain_s > 0:
            await asyncio.wait({running}, timeout=drain_s)  # the last words reach the conversation
        if hung_up.done() and not running.done():
            await worker.cancel(reason=state.hangup_reason or "hangup")
        await asyncio.wait({running}, timeout=settle_s)
        if running.done():
            running.result()
    finally:
        for task in (running, hung_up):
            if not task.done():
                task.cancel()
        await asyncio.wait({running, hung_up}, timeout=settle_s)
