"""The Linux CPU scheduling policy of the processes `aigw run` starts (`AIGW_EDGE__CPU_POLICY`).

`batch` is SCHED_BATCH at the same nice value: a process of ours that wakes up no longer
preempts the one running. On a busy node HAProxy, the Ingress replicas and Ray's daemons wake
one another for every request; each preemption is a context switch and the caches of the
Python code it interrupted. On the 2-core box at c=32 the Ingress replicas' loop threads were
preempted 3.1 times per request under SCHED_OTHER and 0.53 times under SCHED_BATCH; in a
same-run A/B (`bench.cpu_ab`, alternated) CPU per request fell 7-15 % on every gateway path,
p50 fell and c=1 was unchanged (README, The graph). A thread's policy passes to the processes
and threads it starts, so setting it around `ray.init` covers Ray's daemons, every replica (and
the threads llama.cpp starts in one) and Serve's HAProxy, and nothing started later. All of
them or none: a process under SCHED_BATCH among SCHED_OTHER ones only loses its wake-ups to
them, so a replica does not switch itself (under KubeRay, `chrt -b 0` on the pod's command).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from core.edge_settings import CpuPolicy

logger = logging.getLogger("aigw.cpu_policy")


@contextlib.contextmanager
def started_under(policy: CpuPolicy) -> Iterator[bool]:
    """Processes started by this thread inside the block run under `policy`; the thread's own
    policy is restored after it. Yields whether the policy was applied: not where the platform
    has no SCHED_BATCH, nor when this thread already runs under a policy other than the
    default (an operator's `chrt` wins)."""
    applied = False
    if policy == "batch" and hasattr(os, "SCHED_BATCH"):
        try:
            if os.sched_getscheduler(0) == os.SCHED_OTHER:
                os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
                applied = True
        except OSError as exc:  # a sandbox that forbids it: run as we are
            logger.warning("SCHED_BATCH not applied: %s", exc)
    try:
        yield applied
    finally:
        if applied:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
