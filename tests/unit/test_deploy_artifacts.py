"""Dockerfile, KubeRay RayService and Grafana dashboard: everything that can be checked
without a Docker engine or a Kubernetes cluster."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import jsonschema
import pytest
import yaml

from observability.metrics import GatewayMetrics, MemoryMetrics
from serve_app.serve_env import SERVE_ENV_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kuberay" / "rayservice.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "aigw-dashboard.json"
DOCKERFILE = ROOT / "Dockerfile"
# The `-llm` image of deploy/kuberay/rayservice-vllm.yaml: Ray's LLM image (CUDA vLLM).
DOCKERFILE_LLM = ROOT / "Dockerfile.llm"


def pinned_ray_version() -> str:
    match = re.search(r'"ray\[[^\]]*\]==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert match
    return match.group(1)


def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


# The parts of KubeRay's RayService CRD (ray.io/v1) this manifest relies on.
CONTAINER = {
    "type": "object",
    "required": ["name", "image"],
    "properties": {
        "name": {"type": "string"},
        "image": {"type": "string"},
        "env": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "ports": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["containerPort"],
                "properties": {"containerPort": {"type": "integer"}, "name": {"type": "string"}},
            },
        },
    },
}
POD_TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["containers"],
            "properties": {"containers": {"type": "array", "minItems": 1, "items": CONTAINER}},
        }
    },
}
START_PARAMS = {"type": "object", "additionalProperties": {"type": "string"}}
RAYSERVICE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayService"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["serveConfigV2", "rayClusterConfig"],
            "properties": {
                "serveConfigV2": {"type": "string"},
                "rayClusterConfig": {
                    "type": "object",
                    "required": ["rayVersion", "headGroupSpec"],
                    "properties": {
                        "rayVersion": {"type": "string"},
                        "headGroupSpec": {
                            "type": "object",
                            "required": ["rayStartParams", "template"],
                            "properties": {
                                "rayStartParams": START_PARAMS,
                                "template": POD_TEMPLATE,
                            },
                        },
                        "workerGroupSpecs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["groupName", "template"],
                                "properties": {
                                    "groupName": {"type": "string"},
                                    "minReplicas": {"type": "integer"},
                                    "maxReplicas": {"type": "integer"},
                                    "rayStartParams": START_PARAMS,
                                    "template": POD_TEMPLATE,
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_manifest_is_a_valid_rayservice_on_the_pinned_ray():
    doc = manifest()
    jsonschema.validate(doc, RAYSERVICE_SCHEMA)
    cluster = doc["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == pinned_ray_version()
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        assert group["rayStartParams"]["metrics-export-port"] == "8082"
        pod = group["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        # Every Serve knob `aigw run` exports, with its value: a pod runs as `make run` does.
        assert {k: env.get(k) for k in SERVE_ENV_DEFAULTS} == SERVE_ENV_DEFAULTS
    head_ports = {
        p["name"]: p["containerPort"]
        for p in groups[0]["template"]["spec"]["containers"][0]["ports"]
    }
    assert head_ports["serve"] == 5052 and head_ports["metrics"] == 8082


def test_manifest_embeds_serve_config_yaml():
    embedded = yaml.safe_load(manifest()["spec"]["serveConfigV2"])
    ours = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    # The one intended difference: in a pod, Serve listens on every interface.
    assert embedded["http_options"].pop("host") == "0.0.0.0"
    ours["http_options"].pop("host")
    assert embedded == ours
    from ray.serve.schema import ServeDeploySchema

    ServeDeploySchema.model_validate(embedded)


def test_manifest_is_regenerated_from_serve_config():
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "kuberay" / "render.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def instructions(text: str) -> list[str]:
    """A Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", re.sub(r"^\s*#.*\n", "", text, flags=re.M))
    return [line.strip() for line in joined.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("dockerfile", "base"),
    [
        (DOCKERFILE, "rayproject/ray:{ray}-py311-cpu"),
        (DOCKERFILE_LLM, "rayproject/ray-llm:{ray}-py311-cu"),
    ],
    ids=["Dockerfile", "Dockerfile.llm"],
)
def test_dockerfile_passes_hadolint_and_follows_the_rules(dockerfile: Path, base: str):
    text = dockerfile.read_text()
    image = re.escape(base.format(ray=pinned_ray_version()))
    assert re.search(rf"^FROM {image}", text, re.M)  # the pinned Ray, Python 3.11
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "uv.lock" in text and "--frozen" in text  # installs exactly what the lock pins
    assert "--require-hashes" in text
    # The HAProxy wrapper with splice() off, used however the image starts Ray.
    assert "python -m serve_app.haproxy /home/ray/aigw/bin/haproxy-nosplice" in text
    assert "ENV RAY_SERVE_HAPROXY_BINARY_PATH=/home/ray/aigw/bin/haproxy-nosplice" in text
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed")
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_llm_dockerfile_keeps_the_cpu_images_recipe():
    """What goes into the image and how it runs are the same on both bases."""
    llm = instructions(DOCKERFILE_LLM.read_text())
    for line in instructions(DOCKERFILE.read_text()):
        if line.split()[0] in ("COPY", "ENV", "USER", "WORKDIR", "EXPOSE", "HEALTHCHECK", "CMD"):
            assert line in llm, f"Dockerfile.llm lacks: {line}"


class _Names:
    """Records what GatewayMetrics defines, as Ray exports it (prefix `ray_`, `_total`)."""

    def __init__(self) -> None:
        self.exported: set[str] = set()
        self.store = MemoryMetrics()

    def counter(self, name: str, description: str, tag_keys: Sequence[str]):
        base = name if name.endswith("_total") else f"{name}_total"
        self.exported.add(f"ray_{base}")
        return self.store.counter(name, description, tag_keys)

    def histogram(self, name: str, description: str, boundaries, tag_keys):
        self.exported |= {f"ray_{name}_{s}" for s in ("bucket", "count", "sum")}
        return self.store.histogram(name, description, boundaries, tag_keys)

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]):
        self.exported.add(f"ray_{name}")
        return self.store.gauge(name, description, tag_keys)


def test_dashboard_queries_only_metrics_we_export():
    dashboard = json.loads(DASHBOARD.read_text())
    names = _Names()
    GatewayMetrics(names)
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    assert len(exprs) >= 10
    used = {m for e in exprs for m in re.findall(r"\bray_[a-z_]+", e)}
    assert used <= names.exported, used - names.exported
    # Every contract metric has a panel.
    for metric in ("model_inferences_total", "inference_request_duration_seconds_bucket",
                   "inference_input_tokens_total", "model_inferences_in_flight",
                   "code_suggestions_prompt_language_total", "http_requests_total",
                   "code_suggestions_post_processing_duration_seconds_bucket",
                   "gateway_stage_duration_seconds_bucket"):  # fmt: skip
        assert f"ray_{metric}" in used
    for panel in panels:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


def test_the_llm_image_the_vllm_manifest_runs_has_a_documented_build():
    doc = yaml.safe_load((ROOT / "deploy" / "kuberay" / "rayservice-vllm.yaml").read_text())
    cluster = doc["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    (image,) = {c["image"] for g in pods for c in g["template"]["spec"]["containers"]}
    build = f"docker build -f Dockerfile.llm -t {image} ."
    assert build in (ROOT / "docs" / "custom-models.md").read_text()
    assert build in DOCKERFILE_LLM.read_text()
