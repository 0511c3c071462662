"""A custom model as an operator declares it under `custom_models:` in serve_config.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.model_params import ModelParams

Feature = Literal["code_completions", "code_generations", "duo_chat"]

BACKEND_PREFIX = "vllm:"
RESERVED_SAMPLING = frozenset(
    {"model", "prompt", "messages", "stream", "stream_options", "request_id", "max_tokens"}
)


class Autoscaling(BaseModel):
    """Serve autoscaling for the model's replicas. `min_replicas: 0` scales to zero when idle
    (the next request then waits for a replica to load the model)."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    initial_replicas: int | None = Field(default=None, ge=0)
    target_ongoing_requests: float = Field(default=16, gt=0)
    upscale_delay_s: float | None = Field(default=None, ge=0)
    downscale_delay_s: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.min_replicas must not exceed max_replicas")
        initial = self.initial_replicas
        if initial is not None and not self.min_replicas <= initial <= self.max_replicas:
            raise ValueError("autoscaling.initial_replicas must lie in [min, max]")
        return self

    def serve_config(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Resources(BaseModel):
    """What one replica needs. Each engine worker (tensor_parallel_size x
    pipeline_parallel_size of them) gets `gpus_per_worker` GPUs (0: run on CPU)."""

    model_config = ConfigDict(extra="forbid")

    gpus_per_worker: float = Field(default=1, ge=0)
    cpus_per_worker: float = Field(default=1, gt=0)
    accelerator_type: str | None = None  # e.g. "L4", "A10G", "H100": Ray node label
    replica_cpus: float = Field(default=0.1, ge=0)  # the Serve replica actor itself
    placement_strategy: Literal["PACK", "STRICT_PACK", "SPREAD", "STRICT_SPREAD"] = "PACK"

    @property
    def on_gpu(self) -> bool:
        return self.gpus_per_worker > 0


class CustomModelSpec(BaseModel):
    """One self-hosted model served by vLLM replicas in the graph."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # served name, catalogue id
    model_source: str = Field(min_length=1)  # local path (or a hub id on a connected cluster)
    display_name: str = ""
    family: tuple[str, ...] = ("base",)  # prompt family: picks FIM format and stop tokens
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)  # vLLM engine args
    resources: Resources = Field(default_factory=Resources)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    max_ongoing_requests: int = Field(default=64, ge=1)  # per replica; vLLM batches these
    features: tuple[Feature, ...] = ()  # features whose default model this becomes
    params: ModelParams = ModelParams()  # defaults of every call: temperature, max_tokens...
    # Extra vLLM sampling parameters sent with every request (repetition_penalty, min_tokens,
    # ignore_eos, seed, ...).
    sampling: dict[str, Any] = Field(default_factory=dict)
    stop: tuple[str, ...] | None = None  # None: the family's stop tokens
    fim_template: str | None = None  # e.g. "<PRE> {prefix} <SUF>{suffix} <MID>"
    max_context_tokens: int | None = Field(default=None, ge=16)
    runtime_env: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> CustomModelSpec:
        if self.fim_template is not None and not (
            "{prefix}" in self.fim_template and "{suffix}" in self.fim_template
        ):
            raise ValueError("fim_template must contain {prefix} and {suffix}")
        for key in ("model", "served_model_name"):
            if key in self.engine_kwargs:
                raise ValueError(f"engine_kwargs.{key} is set from model_source / name")
        reserved = RESERVED_SAMPLING & set(self.sampling)
        if reserved:
            raise ValueError(f"sampling may not set {sorted(reserved)}: the gateway sets them")
        return self

    @property
    def backend(self) -> str:
        """The key of this model's backend deployment in the gateway's backend map."""
        return BACKEND_PREFIX + self.name

    @property
    def deployment_name(self) -> str:
        return "VLLMBackend:" + self.name

    @property
    def context_tokens(self) -> int:
        if self.max_context_tokens is not None:
            return self.max_context_tokens
        return int(self.engine_kwargs.get("max_model_len", 2048))


def parse_custom_models(raw: list[dict[str, Any]] | None) -> list[CustomModelSpec]:
    """Validate the `custom_models` list; names must be unique."""
    specs = [CustomModelSpec.model_validate(item) for item in raw or []]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"custom_models: {spec.name!r} is declared twice")
        seen.add(spec.name)
    return specs
