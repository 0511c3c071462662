"""What one ingress replica holds for observability, and what happens when a request ends:
HTTP metrics, stage histograms, one access-log line, the request log (when allowed) and
internal events."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping
from typing import Any

from core.settings import Config
from observability.events import (
    EventSink,
    NullEventSink,
    ai_context,
    event_sink,
    standard_context,
)
from observability.formats import iso_utc, round3, round6
from observability.instrument import InstrumentedAssembler, InstrumentedBackend
from observability.logs import (
    ACCESS_LOGGER,
    REQUEST_LOGGER,
    Line,
    configure_logging,
    emit,
    flush_logs,
)
from observability.metrics import GatewayMetrics, MemoryMetrics, MetricFactory
from observability.record import RequestRecord

# Request headers copied into the access log as `gitlab_*` fields (API.md §8.2).
GITLAB_LOG_HEADERS = {
    "x-gitlab-instance-id": "gitlab_instance_id",
    "x-gitlab-global-user-id": "gitlab_global_user_id",
    "x-gitlab-host-name": "gitlab_host_name",
    "x-gitlab-version": "gitlab_version",
    "x-gitlab-realm": "gitlab_realm",
    "x-gitlab-saas-duo-pro-namespace-ids": "gitlab_saas_duo_pro_namespace_ids",
    "x-gitlab-feature-enabled-by-namespace-ids": "gitlab_feature_enabled_by_namespace_ids",
    "x-gitlab-feature-enablement-type": "gitlab_feature_enablement_type",
    "x-gitlab-is-team-member": "gitlab_is_team_member",
    "x-gitlab-language-server-version": "gitlab_language_server_version",
    "x-gitlab-organization-id": "gitlab_organization_id",
    "x-gitlab-client-type": "gitlab_client_type",
    "x-gitlab-client-name": "gitlab_client_name",
    "x-gitlab-client-version": "gitlab_client_version",
    "x-gitlab-interface": "gitlab_interface",
    "x-gitlab-deployment-type": "gitlab_deployment_type",
    "x-gitlab-subject-type": "gitlab_subject_type",
}
EXPANDED_LOGGING_FLAG = "expanded_ai_logging"


class Telemetry:
    def __init__(
        self, settings: Config, metrics: GatewayMetrics, events: EventSink | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.events: EventSink = events or NullEventSink()

    @classmethod
    def start(cls, settings: Config, factory: MetricFactory | None = None) -> Telemetry:
        """For a replica: configure logging, record metrics through Ray when Ray runs, and
        start the internal-event emitter when it is enabled."""
        configure_logging(settings.logging)
        if factory is None:
            import ray

            from observability.metrics import RayMetrics

            factory = RayMetrics() if ray.is_initialized() else MemoryMetrics()
        metrics = GatewayMetrics(factory, settings.model_engine_limits)
        return cls(settings, metrics, event_sink(settings.internal_event, metrics))

    @classmethod
    def in_memory(cls, settings: Config) -> Telemetry:
        return cls(settings, GatewayMetrics(MemoryMetrics(), settings.model_engine_limits))

    def instrument_backend(self, backend: Any) -> InstrumentedBackend:
        return InstrumentedBackend(backend, self.metrics)

    def instrument_assembler(self, assembler: Any) -> InstrumentedAssembler:
        return InstrumentedAssembler(assembler, self.metrics)

    def request_logging_allowed(self, headers: Mapping[str, str]) -> bool:
        """API.md §8.2: the setting, or the instance's verbose-logs header for custom models,
        or the `expanded_ai_logging` flag (unless disallowed for the realm) otherwise."""
        if self.settings.logging.enable_request_logging:
            return True
        if self.settings.custom_models.enabled:
            return headers.get("x-gitlab-enabled-instance-verbose-ai-logs", "").lower() == "true"
        raw = headers.get("x-gitlab-enabled-feature-flags", "")
        if EXPANDED_LOGGING_FLAG not in raw:
            return False
        realm = headers.get("x-gitlab-realm", "")
        disallowed = self.settings.feature_flags.disallowed_flags.get(realm, [])
        flags = {f.strip() for f in raw.split(",")}
        return EXPANDED_LOGGING_FLAG in flags and EXPANDED_LOGGING_FLAG not in disallowed

    def close(self) -> None:
        """At replica shutdown: send queued events, write queued log lines."""
        self.events.close()
        self.metrics.close()
        flush_logs()

    def finish(
        self,
        record: RequestRecord,
        scope: Mapping[str, Any],
        total_s: float | None,
        cpu_started: float,
        exc: BaseException | None,
    ) -> None:
        ended = time.perf_counter()
        status = record.status or 500
        route = scope.get("route")
        handler = getattr(route, "path", None) or "none"
        method = scope.get("method", "")
        duration = record.edge_queue_s + (ended - record.started)
        http_s = total_s if record.streaming and total_s is not None else duration
        self.metrics.http(handler, method, status, http_s)
        post = record.stages.get("post")
        if post is not None and record.model_engine:
            self.metrics.post_processed(record.model_engine, record.model_name, post)
        if total_s is not None and record.handler_at is not None:
            self.metrics.stages(record.stages, total_s)
        state = scope.get("state") or {}
        identity = state.get("identity")
        # With events off (the default) the event's contexts are not even built: that was
        # ~1.6% of a completion's CPU for a dict nobody sent.
        if (
            record.unit_primitive
            and identity is not None
            and type(self.events) is not NullEventSink
        ):
            self._track(record, scope, identity)
        self._access_log(record, scope, status, duration, total_s, cpu_started, exc, identity)

    def _track(self, record: RequestRecord, scope: Mapping[str, Any], identity: Any) -> None:
        name = f"request_{record.unit_primitive}"
        endpoint = scope.get("endpoint")
        category = getattr(endpoint, "__module__", "") or "serve_app"
        context = {
            "standard": standard_context(record, self.settings.environment, identity),
            "ai": ai_context(record),
        }
        props = {"label": record.model_engine or None, "property": record.correlation_id}
        if self.events.track_event(name, context, props, category):
            record.events.append(name)

    def _access_log(
        self,
        record: RequestRecord,
        scope: Mapping[str, Any],
        status: int,
        duration: float,
        total_s: float | None,
        cpu_started: float,
        exc: BaseException | None,
        identity: Any,
    ) -> None:
        client = scope.get("client") or ("", 0)
        http_version = scope.get("http_version", "1.1")
        path = scope.get("path", "")
        query = scope.get("query_string", b"")
        host = record.host
        if host is None:  # a record the middleware did not open
            host = next((v for k, v in scope.get("headers", ()) if k == b"host"), b"").decode(
                "latin-1"
            )
        url = f"{scope.get('scheme', 'http')}://{host}{path}"
        if query:
            url += "?" + query.decode("latin-1")
        method = scope.get("method", "")
        h = record.headers
        fields: dict[str, Any] = {
            "url": url,
            "path": path,
            "status_code": status,
            "method": method,
            "correlation_id": record.correlation_id,
            "http_version": http_version,
            "client_ip": client[0],
            "client_port": client[1],
            "duration_s": round6(duration),
            "duration_request": _rails_transit(h.get("x-gitlab-rails-send-start"), record),
            "request_arrived_at": iso_utc(record.arrived_wall),
            "response_start_duration_s": round6(total_s) if total_s is not None else None,
            "first_chunk_duration_s": (
                round6(record.first_chunk_s) if record.first_chunk_s is not None else None
            ),
            "cpu_s": round6(max(0.0, time.thread_time() - cpu_started)),  # the loop thread
            "content_type": record.fields.pop("content_type", None),
            "user_agent": h.get("user-agent"),
            "meta.feature_category": record.feature_category or None,
            "meta.unit_primitive": record.unit_primitive or None,
            "gateway_timing_ms": {k: round3(v * 1000) for k, v in record.stages.items()},
            "tracked_internal_events": record.events,
        }
        for header, name in GITLAB_LOG_HEADERS.items():
            if header in h:
                fields[name] = h[header]
        if "auth" in record.stages:
            fields["auth_duration_s"] = round6(record.stages["auth"])
        if identity is not None:
            fields["token_issuer"] = getattr(identity, "issuer", "") or None
        flags = h.get("x-gitlab-enabled-feature-flags")
        if flags:
            fields["enabled_feature_flags"] = [f.strip() for f in flags.split(",") if f.strip()]
        if record.model_engine:
            fields["model_engine"] = record.model_engine
            fields["model_name"] = record.model_name
            fields["input_tokens"] = record.input_tokens
            fields["output_tokens"] = record.output_tokens
            fields["total_tokens"] = record.input_tokens + record.output_tokens
            fields["finish_reason"] = record.finish_reason
            fields["is_streaming"] = record.streaming
        if "post" in record.stages:
            fields["post_processing_duration_s"] = round6(record.stages["post"])
        prompt = record.fields.pop("model_request", None)
        response = record.fields.pop("model_response", None)
        fields.update(record.fields)
        if exc is not None:
            fields["exception_class"] = type(exc).__name__
            fields["exception_message"] = str(exc)[:1000]
            fields["exception_backtrace"] = "".join(traceback.format_exception(exc))[-8000:]
        client_text = f"{client[0]}:{client[1]}"
        message = f'{client_text} - "{method} {path} HTTP/{http_version}" {status}'
        now = time.time()
        emit(Line(ACCESS_LOGGER, logging.INFO, now, message, fields))
        if record.request_logging and (prompt is not None or response is not None):
            request_fields = {
                "correlation_id": record.correlation_id,
                "model_engine": record.model_engine,
                "model_name": record.model_name,
                "request": prompt,
                "response": response,
            }
            emit(Line(REQUEST_LOGGER, logging.INFO, now, "model request", request_fields))


def _rails_transit(value: str | None, record: RequestRecord) -> float:
    """`duration_request`: seconds from GitLab Rails sending the request to its arrival here."""
    if not value:
        return -1
    try:
        return round(record.arrived_wall - float(value), 6)
    except ValueError:
        return -1
