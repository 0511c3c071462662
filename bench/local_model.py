"""The embedded model's numbers: load time, first-token latency and tokens/s through the gateway
versus llama.cpp called directly — same GGUF, same prompt, same limits, in one run.

    .venv/bin/python -m bench.local_model [--runs 5] [--json out.json]

Runs alternate between the two paths so both see the same machine load.
Direct: `llama_cpp.Llama.create_completion(stream=True)` in this process, with the catalogue's
max_tokens and temperature for the model (what the gateway sends). Gateway: an embedded
Ray Serve with the gateway graph in its default mode (no key, mock off: LocalBackend bound),
`POST /v2/code/completions` with `stream: true`, timed at the client. Tokens/s counts the
generated tokens (tokenised with the model's own vocabulary) over the time after the first one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.isolation import free_port, isolated_serve_env
from core.settings import LocalModelSettings
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


def catalogue_params() -> tuple[int, float]:
    from routing.catalogue import load_catalogue

    params = load_catalogue().models["smollm2_135m_local"].params
    assert params.max_tokens is not None and params.temperature is not None
    return params.max_tokens, params.temperature


def direct(llama: Any, runs: int) -> list[Sample]:
    max_tokens, temperature = catalogue_params()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        first, pieces = 0.0, []
        for chunk in llama.create_completion(
            PREFIX, max_tokens=max_tokens, temperature=temperature, stream=True, repeat_penalty=1.1
        ):
            text = chunk["choices"][0]["text"]
            if text and not first:
                first = time.perf_counter() - started
            pieces.append(text)
        total = time.perf_counter() - started
        samples.append(Sample(first, total, default_tokenizer().count("".join(pieces))))
    return samples


def gateway_body() -> dict[str, Any]:
    return {
        "prompt_version": 1,
        "project_path": "bench/bench",
        "current_file": {
            "file_name": FILE_NAME,
            "content_above_cursor": PREFIX,
            "content_below_cursor": "",
        },
        "stream": True,
    }


def through_gateway(base: str, runs: int) -> list[Sample]:
    samples = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for _ in range(runs):
            started = time.perf_counter()
            first, pieces = 0.0, []
            with client.stream("POST", "/v2/code/completions", json=gateway_body()) as r:
                r.raise_for_status()
                for text in r.iter_text():
                    if text and not first:
                        first = time.perf_counter() - started
                    pieces.append(text)
            total = time.perf_counter() - started
            samples.append(Sample(first, total, default_tokenizer().count("".join(pieces))))
    return samples


def start_gateway() -> str:
    export_serve_env(isolated_serve_env())
    import ray
    from ray import serve

    from serve_app.app import build_app

    port = free_port()
    ray.init(address="local", include_dashboard=False, namespace="serve", log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    settings = {"mock_model_responses": False, "auth": {"bypass_external": True}}
    serve.run(build_app({"settings": settings}), name="aigw", route_prefix="/")
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
    args = parser.parse_args()

    load_s, engine = load_time()
    print(f"model: {default_gguf_path().name}; load (weights + warm-up): {load_s:.2f}s")
    max_tokens, temperature = catalogue_params()
    print(f"prompt: {PREFIX!r}; max_tokens {max_tokens}, temperature {temperature}")
    base = start_gateway()
    results: dict[str, list[Sample]] = {"direct": [], "gateway": []}
    try:
        direct(engine.llama, 1)  # warm-ups, discarded
        through_gateway(base, 1)
        # Alternate the two paths so that both see the same machine load.
        for _ in range(args.runs):
            results["direct"] += direct(engine.llama, 1)
            results["gateway"] += through_gateway(base, 1)
    finally:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    rows = [Summary.of(name, samples) for name, samples in results.items()]
    print(f"{'path':<10} {'runs':>4} {'first token ms':>15} {'tokens/s':>9} {'tokens':>7}")
    for row in rows:
        print(
            f"{row.path:<10} {row.runs:>4} {row.first_token_ms_p50:>15.1f}"
            f" {row.tokens_per_s_p50:>9.1f} {row.tokens_p50:>7.0f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"load_s": load_s, "rows": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
