"""The embedded model's numbers: load time, first-token latency and tokens/s through the gateway
versus llama.cpp called directly — same GGUF, same prompt, same limits, in one run.

    .venv/bin/python -m bench.local_model [--runs 5] [--json out.json]

Runs alternate between the paths, in rotating order, so all see the same machine load.
Direct: `llama_cpp.Llama.create_completion(stream=True)` in this process, with the prompt,
max_tokens, temperature and stop sequences the gateway's PromptAssembler makes for the request.
Gateway: an embedded Ray Serve with the gateway graph in its default mode (no key, mock off:
LocalBackend bound as its own deployment; `--placement ingress` puts it in the ingress replica),
`POST /v2/code/completions` with `stream: true`, timed at the client: `gateway` on one
keep-alive connection (what an editor or Workhorse holds), `gateway-new` on a new connection per
request. Tokens/s counts the generated tokens (tokenised with the model's own vocabulary) over the
time after the first one. `--floor` adds `serve-floor`: a one-deployment Serve app in the same
Serve instance that streams LocalBackend's chunks and nothing else (bench/local_floor.py), what
Serve + HAProxy + HTTP cost without the gateway's own code. The prompt repeats, so after the
first run every path finds it in its model's KV cache and evaluates one token; with
`--fresh-prompt` each run's prompt starts with a number no earlier run of that path used, so
every path evaluates all of it but its first tokens each time (the same prompts, in the same
order, on every path).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.isolation import free_port, init_ray_as_aigw_run, isolated_serve_env
from core.settings import LocalModelSettings
from core.types import ModelRequest
from deployments.suggestions.tokenizer import default_gguf_path, default_tokenizer
from serve_app.serve_env import export_serve_env

PREFIX = "import os\n\n\ndef list_python_files(root):\n    "
FILE_NAME = "tools/files.py"


@dataclass
class Sample:
    first_token_s: float
    total_s: float
    tokens: int

    @property
    def tokens_per_s(self) -> float:
        gen = self.total_s - self.first_token_s
        return (self.tokens - 1) / gen if self.tokens > 1 and gen > 0 else 0.0


@dataclass
class Summary:
    path: str
    runs: int
    first_token_ms_p50: float
    tokens_per_s_p50: float
    tokens_p50: float

    @classmethod
    def of(cls, path: str, samples: list[Sample]) -> Summary:
        return cls(
            path=path,
            runs=len(samples),
            first_token_ms_p50=statistics.median(s.first_token_s for s in samples) * 1000,
            tokens_per_s_p50=statistics.median(s.tokens_per_s for s in samples),
            tokens_p50=statistics.median(s.tokens for s in samples),
        )


def load_time() -> tuple[float, Any]:
    """Seconds for LocalBackend's own load path (weights + warm-up), and the loaded engine."""
    from deployments.backends.llama_engine import LlamaEngine

    started = time.perf_counter()
    engine = LlamaEngine.load(LocalModelSettings())
    return time.perf_counter() - started, engine


def prefix_of(run: int | None) -> str:
    """The text above the cursor: the same every run, or (`--fresh-prompt`) numbered per run, in
    front and digits reversed (the last digit first), so a KV cache holding another run's prompt
    shares at most its first two or three tokens."""
    return PREFIX if run is None else f"# {str(run).zfill(5)[::-1]}\n{PREFIX}"


@functools.cache
def _assembler() -> tuple[Any, Any]:
    from core.settings import Config
    from deployments.prompt_assembler import PromptAssembler
    from routing.catalogue import load_catalogue, target_of

    target = target_of(load_catalogue().models["smollm2_135m_local"])
    return PromptAssembler(Config().prompt_assembler()), target


def gateway_request(run: int | None = None) -> ModelRequest:
    """The model call the gateway makes for `gateway_body(run)` (its own PromptAssembler:
    prompt, max_tokens, temperature and stop sequences for a code completion on this model)."""
    from core.types import SuggestionInput

    assembler, target = _assembler()
    inp = SuggestionInput(
        feature="code_completions",
        file_name=FILE_NAME,
        content_above_cursor=prefix_of(run),
        stream=True,
    )
    request: ModelRequest = assembler.assemble_suggestion(inp, target).request
    return request


def direct(llama: Any, run: int | None) -> Sample:
    from deployments.backends.llama_engine import DEFAULT_TOP_K, DEFAULT_TOP_P

    request = gateway_request(run)
    started = time.perf_counter()
    first, pieces = 0.0, []
    for chunk in llama.create_completion(
        request.prefix,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=DEFAULT_TOP_P,
        top_k=DEFAULT_TOP_K,
        stop=request.stop or None,
        stream=True,
        repeat_penalty=LocalModelSettings().repeat_penalty,
    ):
        text = chunk["choices"][0]["text"]
        if text and not first:
            first = time.perf_counter() - started
        pieces.append(text)
    total = time.perf_counter() - started
    return Sample(first, total, default_tokenizer().count("".join(pieces)))


def gateway_body(run: int | None = None) -> dict[str, Any]:
    return {
        "prompt_version": 1,
        "project_path": "bench/bench",
        "current_file": {
            "file_name": FILE_NAME,
            "content_above_cursor": prefix_of(run),
            "content_below_cursor": "",
        },
        "stream": True,
    }


def streamed_sample(client: httpx.Client, path: str, body: dict[str, Any]) -> Sample:
    started = time.perf_counter()
    first, pieces = 0.0, []
    with client.stream("POST", path, json=body) as r:
        r.raise_for_status()
        for text in r.iter_text():
            if text and not first:
                first = time.perf_counter() - started
            pieces.append(text)
    total = time.perf_counter() - started
    return Sample(first, total, default_tokenizer().count("".join(pieces)))


def through_gateway(base: str, run: int | None, client: httpx.Client | None = None) -> Sample:
    """On `client`'s open keep-alive connection (what an editor or Workhorse holds), or on a
    new connection when there is none."""
    if client is not None:
        return streamed_sample(client, "/v2/code/completions", gateway_body(run))
    with httpx.Client(base_url=base, timeout=120) as fresh:
        return streamed_sample(fresh, "/v2/code/completions", gateway_body(run))


def shared_model(run: int | None) -> int | None:
    """`gateway-new`'s prompt numbers: it prompts the model `gateway` just prompted, so with
    --fresh-prompt it needs prompts of its own or it would find the run's prompt in that
    model's KV cache. Measured runs are numbered 0, 2, 4, ... and it takes the odd number
    after each (the reversed digits then differ from the first one)."""
    return None if run is None else run + 1


def through_floor(client: httpx.Client, run: int | None) -> Sample:
    """The Serve floor (bench/local_floor.py) on its own keep-alive connection: the run number
    travels as the body, the floor builds the same model call as `direct`."""
    from bench.local_floor import ROUTE

    return streamed_sample(client, ROUTE, {"run": run})


def start_gateway(in_ingress: bool = False) -> str:
    export_serve_env(isolated_serve_env())
    from ray import serve

    from serve_app.app import build_app

    port = free_port()
    init_ray_as_aigw_run(log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    settings = {"mock_model_responses": False, "auth": {"bypass_external": True}}
    args: dict[str, Any] = {"settings": settings}
    if in_ingress:
        args["providers_in_ingress"] = ["mock", "local"]
    serve.run(build_app(args), name="aigw", route_prefix="/")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while httpx.get(f"{base}/monitoring/ready", timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise SystemExit("the gateway never became ready")
        time.sleep(0.5)
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--placement",
        choices=["deployment", "ingress"],
        default="deployment",
        help="LocalBackend as its own deployment (the default graph) or in the ingress replica",
    )
    parser.add_argument(
        "--floor", action="store_true", help="also a bare Serve app streaming LocalBackend"
    )
    parser.add_argument(
        "--fresh-prompt",
        action="store_true",
        help="a prompt no earlier run saw (whole prompt evaluated) instead of the same one",
    )
    args = parser.parse_args()
    if args.floor and args.fresh_prompt:
        from bench.local_floor import RUNS

        if args.runs > RUNS:
            parser.error(f"--floor --fresh-prompt: at most {RUNS} runs")

    load_s, engine = load_time()
    print(f"model: {default_gguf_path().name}; load (weights + warm-up): {load_s:.2f}s")
    request = gateway_request()
    print(
        f"prompt: {request.prefix!r}{' (numbered per run)' if args.fresh_prompt else ''}; "
        f"max_tokens {request.max_tokens}, temperature {request.temperature}, stop {request.stop}"
    )
    base = start_gateway(in_ingress=args.placement == "ingress")
    if args.floor:
        from bench.local_floor import deploy_floor

        deploy_floor()
    print(f"LocalBackend placement: {args.placement}")
    names = ["direct", "gateway", "gateway-new"] + (["serve-floor"] * args.floor)
    results: dict[str, list[Sample]] = {name: [] for name in names}
    client = httpx.Client(base_url=base, timeout=120)
    floor_client = httpx.Client(base_url=base, timeout=120)
    try:
        paths: dict[str, Callable[[int | None], Sample]] = {
            "direct": lambda run: direct(engine.llama, run),
            "gateway": lambda run: through_gateway(base, run, client),
            "gateway-new": lambda run: through_gateway(base, shared_model(run)),
            "serve-floor": lambda run: through_floor(floor_client, run),
        }
        for name in names:  # warm-ups, discarded (the repeated prompt: no fresh one shares it)
            paths[name](None)
        # Alternate the paths so that all see the same machine load, rotating their order: a
        # path run right after another is measured slower here (~5 ms of first token for
        # the one after `direct`), so each follows each other equally often.
        for i in range(args.runs):
            run = 2 * i if args.fresh_prompt else None  # see shared_model
            k = i % len(names)
            for name in names[k:] + names[:k]:
                results[name].append(paths[name](run))
    finally:
        client.close()
        floor_client.close()
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    rows = [Summary.of(name, samples) for name, samples in results.items()]
    print(f"{'path':<12} {'runs':>4} {'first token ms':>15} {'tokens/s':>9} {'tokens':>7}")
    for row in rows:
        print(
            f"{row.path:<12} {row.runs:>4} {row.first_token_ms_p50:>15.1f}"
            f" {row.tokens_per_s_p50:>9.1f} {row.tokens_p50:>7.0f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"load_s": load_s, "rows": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
