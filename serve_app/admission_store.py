"""The Ray shell around `routing.admission.CounterStore`: one named actor per Serve app that
every ingress replica of the app leases allowance from (DESIGN.md: shared state in a small
named actor, off the hot path).

The actor is created by the first replica that needs it (`get_if_exists`) and restarted by
Ray if its process dies (`max_restarts=-1`), empty: a restart loses the current window's
accounting, nothing more. It is not detached: it goes with the app. If the replica that owns
it goes away, the next call fails, the caller decides by its rules' `on_store_failure`, and
the next lookup creates a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from observability.telemetry import Telemetry
from routing.admission import Admission, InProcessStore
from routing.admission.leases import StoreClient, StoreUnavailable
from routing.admission.metrics import AdmissionMetrics
from routing.admission.priority import ReplicaCounts
from routing.admission.store import Ask, CounterStore, Grant, Return

logger = logging.getLogger("aigw.admission")

NAMESPACE = "aigw"


class AdmissionStoreActor:
    """Runs one call at a time (a plain, synchronous actor), which makes grants exact."""

    def __init__(self) -> None:
        self.store = CounterStore()

    def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]:
        return self.store.take(asks, returns)

    def give_back(self, returns: Sequence[Return]) -> None:
        self.store.give_back(returns)

    def epoch(self) -> str:
        return self.store.epoch

    def used(self, bucket: str) -> int:
        return self.store.used(bucket)


def actor_name(app_name: str) -> str:
    return f"aigw-admission:{app_name or 'default'}"


class RayStore:
    """The replica's client of the actor; any Ray failure is `StoreUnavailable` (the caller
    bounds the wait), after which the actor is looked up again."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._actor: Any = None

    def _handle(self) -> Any:
        if self._actor is None:
            import ray

            remote = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)(
                AdmissionStoreActor
            )
            self._actor = remote.options(
                name=self.name, namespace=NAMESPACE, get_if_exists=True
            ).remote()
        return self._actor

    def warm(self, timeout_s: float = 30.0) -> None:
        """Create (or find) the actor and wait until it answers: its first start takes a
        process spawn, far longer than the bounded wait of a request."""
        import ray

        try:
            ray.get(self._handle().epoch.remote(), timeout=timeout_s)
        except Exception as exc:
            self._lost(exc)

    async def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]:
        try:
            grants: list[Grant] = await self._handle().take.remote(list(asks), list(returns))
            return grants
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._lost(exc)
            raise StoreUnavailable(str(exc)) from None

    async def give_back(self, returns: Sequence[Return]) -> None:
        try:
            await self._handle().give_back.remote(list(returns))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._lost(exc)
            raise StoreUnavailable(str(exc)) from None

    def _lost(self, exc: Exception) -> None:
        logger.warning("admission store %s unavailable: %s", self.name, type(exc).__name__)
        self._actor = None


def admission(
    telemetry: Telemetry, backends: Mapping[str, Any] | None = None, redis_url: str = ""
) -> Admission:
    """The replica's admission control: the counters in Redis when `redis_url` is set
    (shared by every replica of every cluster that names it), else the app's shared actor
    under Serve, an in-process store otherwise (one process is its own whole cluster).
    Under Serve, priority gates follow the running replicas of `backends` (their handles)
    and of the ingress."""
    metrics = AdmissionMetrics(telemetry.metrics.factory)
    store: StoreClient | None = None
    if redis_url:
        from routing.admission.redis_store import RedisStore

        store = RedisStore(redis_url)
        logger.info("admission counters in redis at %s", store.where)
    try:
        from ray import serve

        context = serve.get_replica_context()
    except Exception:  # not in a Serve replica
        return Admission(store or InProcessStore(), metrics)
    control = Admission(store or RayStore(actor_name(context.app_name)), metrics)
    deployments = {name: h.deployment_name for name, h in (backends or {}).items()}
    control.priorities.watch(replica_counts(context.app_name, context.deployment, deployments))
    return control


def replica_counts(app: str, ingress: str, backends: dict[str, str]) -> ReplicaCounts:
    """Running replicas of each backend deployment (by backend name) and of the ingress, as
    the Serve controller reports them (a call to it, on a worker thread)."""

    def read() -> tuple[dict[str, int], int]:
        from ray import serve

        status = serve.status().applications[app].deployments

        def running(name: str) -> int:
            deployment = status.get(name)
            states = deployment.replica_states if deployment else {}
            return sum(n for state, n in states.items() if state == "RUNNING")

        return {b: running(d) for b, d in backends.items()}, running(ingress)

    async def counts() -> tuple[dict[str, int], int]:
        return await asyncio.to_thread(read)

    return counts
