"""The edge's settings: listeners, slow-client timeouts, and what one request may cost
(`AIGW_FASTAPI__*`, `AIGW_EDGE__*`, `AIGW_LIMITS__*`; `core.settings.Config` nests them)."""

from __future__ import annotations

import os
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FastApiSettings(BaseModel):
    api_host: str = "0.0.0.0"
    api_port: int = 5000
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8082
    docs_url: str | None = None
    openapi_url: str | None = None
    redoc_url: str | None = None


# The API port serve_config.yaml ships with: the fixed defaults below belong to it.
DEFAULT_API_PORT = 5052


CpuPolicy = Literal["batch", "normal"]  # AIGW_EDGE__CPU_POLICY (serve_app/cpu_policy.py)


class RayServeEnv(BaseSettings):
    """The Ray Serve knobs an operator may have set, which `aigw run` keeps or decides around
    (Serve reads them itself from the environment of the processes it starts)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    enable_ha_proxy: str | None = Field(None, validation_alias="RAY_SERVE_ENABLE_HA_PROXY")
    haproxy_binary_path: str | None = Field(None, validation_alias="RAY_SERVE_HAPROXY_BINARY_PATH")
    throughput_optimized: str | None = Field(
        None, validation_alias="RAY_SERVE_THROUGHPUT_OPTIMIZED"
    )
    direct_ingress_draining_s: str | None = Field(
        None, validation_alias="RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"
    )
    proxy_draining_s: str | None = Field(
        None, validation_alias="RAY_SERVE_PROXY_MIN_DRAINING_PERIOD_S"
    )
    haproxy_metrics_enabled: str | None = Field(
        None, validation_alias="RAY_SERVE_HAPROXY_METRICS_ENABLED"
    )

    def present(self) -> dict[str, str]:
        """The knobs set, by their environment names."""
        return {
            str(field.validation_alias): value
            for name, field in type(self).model_fields.items()
            if (value := getattr(self, name)) is not None
        }

    @staticmethod
    def export(knobs: dict[str, str]) -> None:
        """Write Serve's knobs into this process's environment before `ray.init`: Serve reads
        them from the environment of the processes it starts, never from arguments."""
        os.environ.update(knobs)


class EdgeSettings(BaseModel):
    """`AIGW_EDGE__*` (ours): the listeners Serve's HAProxy and the embedded Ray open besides the
    API port, how long HAProxy waits for a slow client, and the CPU scheduling policy of the
    processes `aigw run` starts.

    A port left unset is derived from the API port: its default here plus (API port - 5052), so
    `aigw run` on 5052 keeps 8404/9101/8500 and a second one on 5053 gets 8405/9102/8501."""

    aux_host: str = "127.0.0.1"  # HAProxy's stats and Prometheus listeners (Serve: all interfaces)
    stats_port: int | None = Field(default=None, ge=1, le=65535)  # default 8404 + offset
    metrics_port: int | None = Field(default=None, ge=1, le=65535)  # default 9101 + offset
    fallback_port: int | None = Field(default=None, ge=1, le=65535)  # default 8500 + offset
    # Ray's dashboard agent's HTTP port (Ray: a fixed 52365, which a second gateway on the host
    # could not bind): default 52365 + offset; past 65535 (API ports above 18222), a free port
    # picked when `aigw run` starts. Not 0: Ray's node start then waits for the agent.
    dashboard_agent_port: int | None = Field(default=None, ge=1, le=65535)
    # The whole request head must arrive within this (HAProxy `timeout http-request`)...
    request_header_timeout_s: int = Field(default=5, ge=1)
    # ...and then its body: up to HAProxy's buffer (16 KiB) within this (`wait-for-body`), the
    # rest with at most this between two reads (serve_app/api/body_guard.py, a 408).
    request_body_timeout_s: int = Field(default=10, ge=1)
    # The Linux scheduling policy of every process `aigw run` starts (Ray's, the replicas',
    # HAProxy's): `batch` (SCHED_BATCH) keeps a waking process from preempting a busy one,
    # -7 to -15 % CPU per request at c=32 on 2 cores; `normal` leaves SCHED_OTHER
    # (serve_app/cpu_policy.py).
    cpu_policy: CpuPolicy = "batch"


class Listener(NamedTuple):
    """A port `aigw run` opens: the setting that names it and the interface it binds."""

    setting: str
    host: str
    port: int


class AnswerLimitSettings(BaseModel):
    """How big a provider's answer may be: `max_tokens` x `bytes_per_token`, at least
    `min_bytes`. A token is a few bytes (SmolLM2's longest: 81); JSON escapes and per-token
    stream framing are why the default is generous. A longer answer is refused (503), a
    longer stream cut with the contract's mid-stream error, never buffered whole."""

    bytes_per_token: int = Field(default=64, ge=1)
    min_bytes: int = Field(default=64 * 1024, ge=1)


# The contract's largest body (API.md §1.3, v2 suggestions): 100 context items of 500,000 +
# 1,024 + 1,024 characters plus two 100,000-character file halves and the small fields, about
# 50.4 M characters. JSON escapes a source file's newlines and quotes (real code: ~15 % more
# bytes), so the edge allows 64 MiB; an operator with odder clients raises it.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


class LimitSettings(BaseModel):
    """Bounds on what one request may cost a replica (`AIGW_LIMITS__*`)."""

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)  # 413 above it
    # Big prompt assemblies (over 8,192 input characters) running at once per replica; more
    # wait their turn without holding up small requests.
    heavy_assemblies: int = Field(default=2, ge=1)
    answer: AnswerLimitSettings = Field(default_factory=AnswerLimitSettings)
    # Bodies over 256 KiB parsed and validated at once per replica, each on a worker thread;
    # more wait their turn without holding up small requests (serve_app/api/body.py).
    big_body_parses: int = Field(default=2, ge=1)
    # Admission counters in Redis (`redis://[:password@]host:port/db`) instead of the app's
    # Ray actor, shared by every cluster that names it; empty: the actor. A secret: never
    # logged (routing/admission/redis_store.py masks it).
    redis_url: SecretStr = SecretStr("")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment plus `extra`, for a helper process a tool starts (the
    settings module is where the environment is read)."""
    return {**os.environ, **extra}
