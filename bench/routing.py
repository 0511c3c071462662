"""Routing policy numbers (issue 15), in one process, the OpenAI-compatible backend against the
fake upstream (no Ray: the policy layer is plain Python in the ingress):

- happy path: CPU and wall time per request through `Resilience.generate` with the policy on
  vs off, same run (a no-I/O backend, so the layer's own cost is what differs);
- failover: time to the fallback's answer when the primary refuses connections, answers 503,
  or hangs (the first-byte deadline is the policy's);
- a load run at c=16 against a primary failing 30 % of requests, with a healthy fallback:
  the client-visible error rate and the upstream load multiplier (primary attempts per
  request).

`python -m bench.routing [--seconds 60]`
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

from core.settings import OpenAICompatBackendSettings
from core.types import ModelRequest, ModelResult, ModelTarget
from deployments.backends.openai_compat import OpenAICompatBackend
from routing.resilience.engine import Resilience
from routing.resilience.policy import RoutingPolicy
from routing.resilience.route import Route
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour

FEATURE = "code_completions"


class FlakyOpenAI(FakeOpenAI):
    """Fails a share of requests with a 503, at random."""

    def __init__(self, failure_rate: float) -> None:
        super().__init__()
        self.failure_rate = failure_rate
        self.rng = random.Random(7)

    def next_behaviour(self) -> Behaviour:
        if not self.behaviours and self.rng.random() < self.failure_rate:
            self.behaviours.append(Behaviour(kind="status", status=503))
        return super().next_behaviour()


def target(url: str, name: str) -> ModelTarget:
    return ModelTarget(
        backend="openai_compat", engine="openai", name=name, identifier=name, endpoint=url + "/v1"
    )


async def happy_path(n: int) -> dict[str, float]:
    """The layer's own cost: the same in-process call, policy on vs off, interleaved."""
    result = ModelResult(text="x")

    async def call(_: ModelRequest) -> ModelResult:
        return result

    t = ModelTarget(backend="mock", engine="mock", name="m")
    out: dict[str, float] = {}
    for label, enabled in (("off", False), ("on", True), ("off", False), ("on", True)):
        engine = Resilience(RoutingPolicy(enabled=enabled))
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            await engine.generate(
                ModelRequest(target=t), call, Route(FEATURE, [("m", t), ("m2", t)])
            )
        out[f"cpu_us_{label}"] = (time.process_time() - cpu) / n * 1e6
        out[f"wall_us_{label}"] = (time.perf_counter() - wall) / n * 1e6
    return out


async def failover(backend: OpenAICompatBackend, healthy: str) -> dict[str, float]:
    dead = "http://127.0.0.1:9"  # nothing listens: connection refused
    broken = FakeOpenAI().serve()
    times: dict[str, float] = {}
    policy = RoutingPolicy.model_validate(
        {"features": {FEATURE: {"deadlines": {"first_byte_s": 1.0}}}}
    )
    for case, url, behaviour in (
        ("refused", dead, None),
        ("503", broken.url, Behaviour(kind="status", status=503)),
        ("hang", broken.url, Behaviour(kind="slow", delay_s=30.0)),
    ):
        samples = []
        for _ in range(5):
            if behaviour is not None:
                broken.will(behaviour, behaviour)
            engine = Resilience(policy)  # fresh breakers: every sample meets the failure
            route = Route(
                FEATURE, [("primary", target(url, "p")), ("fallback", target(healthy, "f"))]
            )
            started = time.perf_counter()
            await engine.generate(ModelRequest(target=route.first), backend.generate, route)
            samples.append(time.perf_counter() - started)
            broken.reset()
        times[f"failover_{case}_ms_p50"] = statistics.median(samples) * 1000
    broken.close()
    return times


async def load(backend: OpenAICompatBackend, seconds: float) -> dict[str, Any]:
    flaky, healthy = FlakyOpenAI(0.3).serve(), FakeOpenAI().serve()
    engine = Resilience(RoutingPolicy())
    stop = time.monotonic() + seconds
    requests = errors = 0

    async def client() -> None:
        nonlocal requests, errors
        while time.monotonic() < stop:
            route = Route(
                FEATURE,
                [("primary", target(flaky.url, "p")), ("fallback", target(healthy.url, "f"))],
            )
            requests += 1
            try:
                await engine.generate(ModelRequest(target=route.first), backend.generate, route)
            except Exception:
                errors += 1

    await asyncio.gather(*(client() for _ in range(16)))
    primary, fallback = len(flaky.received), len(healthy.received)
    flaky.close()
    healthy.close()
    return {
        "requests": requests,
        "error_rate": errors / max(requests, 1),
        "primary_load_multiplier": primary / max(requests, 1),
        "upstream_load_multiplier": (primary + fallback) / max(requests, 1),
        "fallback_share": fallback / max(requests, 1),
    }


async def main(seconds: float, n: int) -> None:
    healthy = FakeOpenAI().serve()
    backend = OpenAICompatBackend(OpenAICompatBackendSettings())
    for name, coro in (
        ("happy path", happy_path(n)),
        ("failover", failover(backend, healthy.url)),
        (f"load c=16 {seconds:.0f}s, primary 30% 503", load(backend, seconds)),
    ):
        print(
            name, {k: round(v, 3) if isinstance(v, float) else v for k, v in (await coro).items()}
        )
    healthy.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("-n", type=int, default=20000)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.n))
