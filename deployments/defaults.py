"""Default Ray options per deployment; `serve_config.yaml` overrides any of them.

Fractional CPUs (a 2-core laptop must fit the whole graph) and a high
`max_ongoing_requests` (Serve's default of 5 starves concurrent clients: DESIGN.md).
"""

from __future__ import annotations

from typing import Any

DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "Ingress": {"max_ongoing_requests": 1000, "ray_actor_options": {"num_cpus": 0.1}},
    "Auth": {"max_ongoing_requests": 1000, "ray_actor_options": {"num_cpus": 0.05}},
    "PromptAssembler": {"max_ongoing_requests": 1000, "ray_actor_options": {"num_cpus": 0.05}},
    "MockBackend": {"max_ongoing_requests": 1000, "ray_actor_options": {"num_cpus": 0.05}},
    # One llama.cpp model per replica, requests run one at a time on its worker thread (queued
    # in the replica); llama.cpp's threads use the cores whatever Ray counts.
    "LocalBackend": {"max_ongoing_requests": 64, "ray_actor_options": {"num_cpus": 0.5}},
    "AnthropicBackend": {"max_ongoing_requests": 1000, "ray_actor_options": {"num_cpus": 0.05}},
    "VertexBackend": {"max_ongoing_requests": 1000, "ray_actor_options": {"num_cpus": 0.05}},
    "OpenAICompatBackend": {"max_ongoing_requests": 1000, "ray_actor_options": {"num_cpus": 0.1}},
    "FireworksBackend": {"max_ongoing_requests": 1000, "ray_actor_options": {"num_cpus": 0.1}},
}


def options_for(name: str) -> dict[str, Any]:
    return {"name": name, **DEFAULT_OPTIONS.get(name, {})}
