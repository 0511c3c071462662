"""CPU per request of the gateway's own code: the Ingress replica's ASGI app called directly in
one process (no HTTP, no HAProxy, no Serve hop), built exactly as the replica builds it (mock
in the ingress, auth bypassed, `serve_config.yaml`'s defaults).

    PYTHONPATH=$PWD .venv/bin/python -m bench.inproc [--requests 5000] [--path v2|v4]
        [--ray] [--profile N] [--no-syntax]

What Serve adds around it (uvicorn, the proxy, HAProxy) is `bench.cpu_ab`'s floor; what this
prints is the rest, and unlike a load run it is steady on this machine: run it under
`valgrind --tool=callgrind` for an instruction count that does not move with the machine's
speed. `--ray` starts a local Ray so metrics go through `ray.util.metrics` as in a replica.
`--profile N` prints cProfile's top N functions by own time.

Instructions of the measured requests alone (start-up, warm-up and the exit left out, so the
count does not depend on how long the upstream fake or the machine took):

    PYTHONPATH=$PWD valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect=starmap_next .venv/bin/python -m bench.inproc --requests 300
    # "Collected : N" / 300 = instructions per request
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import json
import pstats
import statistics
import time
from typing import Any

from bench.cpu_ab import SYNTAX_STEPS
from core.settings import Config
from deployments.backends.mock import MockBackend
from deployments.backends.registry import Provider, configured_providers
from serve_app.ingress import Ingress
from tests.payloads import v2_body, v3_body

PATHS = {
    "v2": ("/v2/code/completions", lambda: v2_body()),
    "v4": ("/v4/code/suggestions", lambda: v3_body(stream=True)),
}
IN_INGRESS = ("mock", "openai_compat", "fireworks")  # serve_config.yaml's providers_in_ingress
EXTRA_HEADERS: list[tuple[bytes, bytes]] = []  # --jwt: the token, as a client sends it


def build(no_syntax: bool = False, settings: dict[str, Any] | None = None) -> Any:
    settings = settings or {"mock_model_responses": True, "auth": {"bypass_external": True}}
    if no_syntax:
        settings["feature_flags"] = {"excl_post_process": SYNTAX_STEPS}
    config = Config(**settings)
    providers = {"mock": Provider(MockBackend, "MockBackend", None), **configured_providers(config)}
    ingress = Ingress(
        config,
        backends={},
        local_backends={name: p for name, p in providers.items() if name in IN_INGRESS},
    )
    ingress.reconfigure({})
    app = ingress.__serve_build_asgi_app__()
    # Held as Serve holds the replica: its __del__ stops the log writer.
    app.state.ingress = ingress
    return app


def scope_for(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:5052"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"user-agent", b"bench"),
            *EXTRA_HEADERS,
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5052),
        "state": {},
    }


async def one(app: Any, path: str, body: bytes) -> int:
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_for(path, body), receive, send)
    return status


async def run(app: Any, path: str, body: bytes, n: int) -> list[float]:
    cpu: list[float] = []
    for _ in range(n):
        start = time.thread_time()
        status = await one(app, path, body)
        cpu.append(time.thread_time() - start)
        if status != 200:
            raise SystemExit(f"{path}: status {status}")
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--path", choices=[*sorted(PATHS), "up"], default="v2")
    parser.add_argument("--ray", action="store_true")
    parser.add_argument("--no-syntax", action="store_true")
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--jwt", action="store_true", help="real JWT auth (cached decision)")
    args = parser.parse_args()
    if args.ray:
        import ray

        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    with contextlib.ExitStack() as stack:
        if args.path == "up":  # v2 -> OpenAI-compatible backend -> bench/fake_openai.py
            from bench.upstream import upstream_targets

            up = stack.enter_context(upstream_targets(litellm_workers=()))
            app = build(args.no_syntax, dict(up.gateway_settings))
            path, body = "/v2/code/completions", json.dumps(up.gateway_body).encode()
        else:
            settings = None
            if args.jwt:  # a real RS256 instance token, verified once, then the decision cache
                from bench.auth_setup import auth_setup

                overrides, headers = auth_setup()
                settings = {"mock_model_responses": True, **overrides}
                EXTRA_HEADERS.extend((k.lower().encode(), v.encode()) for k, v in headers.items())
            app = build(args.no_syntax, settings)
            path, make_body = PATHS[args.path]
            body = json.dumps(make_body()).encode()
        measure(app, path, body, args)


def measure(app: Any, path: str, body: bytes, args: argparse.Namespace) -> None:
    loop = asyncio.new_event_loop()
    loop.run_until_complete(run(app, path, body, 200))  # warm: imports, caches, parsers
    profiler = cProfile.Profile() if args.profile else None
    wall, process = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    # Inside itertools.starmap: `valgrind --tool=callgrind --collect-atstart=no
    # --toggle-collect=starmap_next` then counts these requests alone (see the module's doc).
    [cpu] = itertools.starmap(
        lambda: loop.run_until_complete(run(app, path, body, args.requests)), [()]
    )
    if profiler:
        profiler.disable()
    wall, process = time.perf_counter() - wall, time.process_time() - process
    print(
        f"{args.path}{' no-syntax' if args.no_syntax else ''}{' ray' if args.ray else ''}"
        f"{' jwt' if args.jwt else ''}: "
        f"{args.requests} requests, CPU per request (all threads) "
        f"{1e3 * process / len(cpu):.3f} ms, loop thread mean {1e3 * sum(cpu) / len(cpu):.3f} ms "
        f"p50 {1e3 * statistics.median(cpu):.3f} ms, "
        f"wall {1e3 * wall / args.requests:.3f} ms"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
