"""The cluster engine (`--engine ray`, `pip install 'affectstream[ray]'`): the batch's jobs as calls
on Ray actors, each holding a warm pipeline, on an existing cluster (`--address`) or a local one.

Ray schedules, restarts and retries; nothing of that is written here. An actor that dies is
restarted by Ray (its constructor builds the pipeline again) and the call it held is retried once
(`max_task_retries`); a second death fails that input only. Outputs are written by the actors to
the paths the driver chose, so on several machines they must name a shared filesystem.

A local cluster (no address) listens on 127.0.0.1 only and runs without Ray's token auth: it is
private to this process and ends with the batch. `--address` joins a cluster someone started
(`ray start --head` on one machine, `ray start --address HEAD:6379` on the others), whose
security settings are theirs.
"""
from __future__ import annotations

import logging
import os
from collections import deque

from .. import heap
from ..cores import THREAD_VARIABLES
from ..errors import AffectStreamError
from .jobs import FAILED, Job, Outcome

TASK_RETRIES = 1  # a file whose actor dies is redone once, on the restarted actor
LOCAL_ENVIRONMENT = {"RAY_AUTH_MODE": "disabled",  # a throw-away cluster of this process
                     "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # with the 127.0.0.1 node address
                     "RAY_USAGE_STATS_ENABLED": "0",  # no report to Ray's makers nobody asked for
                     "RAY_enable_metrics_collection": "0"}  # nobody reads them: CPU for the work
log = logging.getLogger("affectstream")


def _ray():
    try:
        import ray
    except ImportError:
        raise AffectStreamError("--engine ray needs Ray: pip install 'affectstream[ray]'"
                                ) from None
    return ray


class WarmPipeline:
    """A Ray actor's state: the pipeline, built again by Ray whenever the actor restarts."""

    def __init__(self, options_json: str):
        from .worker import warm_pipeline

        self.calls, self.broken = 0, None
        try:
            self.pipeline = warm_pipeline(options_json)
        except AffectStreamError as e:  # said once by the driver, not as Ray's actor tracebacks
            self.pipeline, self.broken = None, str(e)

    def run(self, job: Job) -> Outcome:
        import ray

        from .jobs import run_job

        if self.broken is not None:
            return Outcome(job.index, FAILED, error=self.broken, fatal=True)
        # Ray retries the call a dying actor held on the actor it restarts: its first call
        retried = ray.get_runtime_context().was_current_actor_reconstructed and self.calls == 0
        self.calls += 1
        outcome = run_job(self.pipeline, job)
        outcome.attempts = 1 + retried
        return outcome


class RayEngine:
    """Runs jobs on `workers` Ray actors (one CPU each) at `address` (None: a local cluster)."""

    def __init__(self, options_json: str, workers: int, address: str | None = None):
        self.options_json, self.size, self.address = options_json, max(1, workers), address

    def run(self, jobs: list[Job], events) -> None:
        ray = _ray()
        started = self._connect(ray)
        actor_class = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=TASK_RETRIES,
                                 runtime_env={"env_vars": {**{n: "1" for n in THREAD_VARIABLES},
                                                           **heap.ENVIRONMENT}})(WarmPipeline)
        actors = [actor_class.remote(self.options_json) for _ in range(min(self.size, len(jobs)))]
        pending, running = deque(jobs), {}
        try:
            free = list(actors)
            while pending or running:
                while free and pending:
                    actor, job = free.pop(), pending.popleft()
                    running[actor.run.remote(job)] = (actor, job)
                (ref,), _ = ray.wait(list(running), num_returns=1)
                actor, job = running.pop(ref)
                events.done(self._outcome(ray, ref, job))
                free.append(actor)
        finally:
            for actor in actors:
                ray.kill(actor)
            if started:
                ray.shutdown()

    def _connect(self, ray) -> bool:
        """Join the cluster at `address`, or start a local one; True when this call started it."""
        if ray.is_initialized():
            return False
        if self.address is not None:
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            return False
        os.environ.update(LOCAL_ENVIRONMENT)
        ray.init(num_cpus=self.size, include_dashboard=False, _node_ip_address="127.0.0.1",
                 logging_level=logging.WARNING, log_to_driver=False)
        return True

    @staticmethod
    def _outcome(ray, ref, job: Job) -> Outcome:
        try:
            outcome = ray.get(ref)
        except ray.exceptions.ActorDiedError:
            why = "its Ray actor died while processing it"
        except ray.exceptions.RayError as e:
            why = f"its Ray task failed ({type(e).__name__}: {str(e).strip().splitlines()[-1]})"
        else:
            if outcome.fatal:
                raise AffectStreamError(f"the Ray workers cannot build the pipeline: "
                                        f"{outcome.error}")
            return outcome
        return Outcome(job.index, FAILED, attempts=1 + TASK_RETRIES,
                       error=f"{job.input.path}: {why}, {1 + TASK_RETRIES} times")
