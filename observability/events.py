"""Internal events (API.md §8.3): an `EventSink` interface and a Snowplow-compatible emitter.

`SnowplowEmitter` speaks the Snowplow tracker protocol (POST `<endpoint>/com.snowplowanalytics.
snowplow/tp2`, `payload_data` 1-0-4, structured events with base64 contexts) from background
threads. `track_event` only puts a small tuple on a bounded queue: when the queue is full the
event is dropped and counted (`internal_events_total{outcome="dropped"}`), never waited for.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from core.settings import InternalEventSettings
from observability.metrics import GatewayMetrics
from observability.record import RequestRecord

logger = logging.getLogger("aigw.events")

PAYLOAD_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
CONTEXTS_SCHEMA = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
STANDARD_CONTEXT_SCHEMA = "iglu:com.gitlab/gitlab_standard/jsonschema/1-1-8"
AI_CONTEXT_SCHEMA = "iglu:com.gitlab/ai_context/jsonschema/1-0-1"
COLLECTOR_PATH = "/com.snowplowanalytics.snowplow/tp2"
TRACKER_VERSION = "py-aigw-serve-0.1.0"
SEND_ATTEMPTS = 2
SEND_TIMEOUT_S = 5.0


class EventSink(Protocol):
    def track_event(
        self,
        event_name: str,
        context: Mapping[str, Any],
        additional_properties: Mapping[str, Any] | None = None,
        category: str = "",
    ) -> bool: ...

    def close(self, timeout_s: float = 5.0) -> None: ...


class NullEventSink:
    """Internal events switched off (`AIGW_INTERNAL_EVENT__ENABLED=false`, the default)."""

    def track_event(
        self,
        event_name: str,
        context: Mapping[str, Any],
        additional_properties: Mapping[str, Any] | None = None,
        category: str = "",
    ) -> bool:
        return False

    def close(self, timeout_s: float = 5.0) -> None:
        return None


def _namespace_ids(raw: str) -> list[int] | None:
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        return None


def standard_context(
    record: RequestRecord, environment: str, identity: Any = None
) -> dict[str, Any]:
    """The `gitlab_standard` context from the request's headers (and identity, when known)."""
    h = record.headers
    ns_raw = h.get("x-gitlab-feature-enabled-by-namespace-ids") or h.get(
        "x-gitlab-saas-duo-pro-namespace-ids", ""
    )
    return {
        "environment": environment,
        "source": "ai-gateway-python",
        "realm": h.get("x-gitlab-realm"),
        "instance_id": h.get("x-gitlab-instance-id"),
        "unique_instance_id": getattr(identity, "instance_uid", None) or None,
        "host_name": h.get("x-gitlab-host-name"),
        "instance_version": h.get("x-gitlab-version"),
        "global_user_id": h.get("x-gitlab-global-user-id"),
        "user_id": h.get("x-gitlab-user-id"),
        "is_gitlab_team_member": h.get("x-gitlab-is-team-member"),
        "feature_enabled_by_namespace_ids": _namespace_ids(ns_raw) if ns_raw else None,
        "project_id": h.get("x-gitlab-project-id"),
        "namespace_id": h.get("x-gitlab-namespace-id"),
        "ultimate_parent_namespace_id": h.get("x-gitlab-root-namespace-id"),
        "correlation_id": record.correlation_id,
        "feature_enablement_type": h.get("x-gitlab-feature-enablement-type"),
        "client_name": h.get("x-gitlab-client-name"),
        "client_version": h.get("x-gitlab-client-version"),
        "client_type": h.get("x-gitlab-client-type"),
        "interface": h.get("x-gitlab-interface"),
        "deployment_type": h.get("x-gitlab-deployment-type"),
        "organization_id": h.get("x-gitlab-organization-id"),
        "context_generated_at": datetime.now(UTC).isoformat(),
    }


def ai_context(record: RequestRecord) -> dict[str, Any]:
    return {
        "input_tokens": record.input_tokens or None,
        "output_tokens": record.output_tokens or None,
        "total_tokens": (record.input_tokens + record.output_tokens) or None,
        "model_engine": record.model_engine or None,
        "model_name": record.model_name or None,
        "model_provider": record.model_engine or None,
    }


def collector_url(endpoint: str) -> str:
    base = endpoint if "://" in endpoint else f"https://{endpoint}"
    return base.rstrip("/") + COLLECTOR_PATH


_Pending = tuple[str, str, dict[str, Any], dict[str, Any], int]


class SnowplowEmitter:
    """Batched, background Snowplow emitter with a bounded queue (drops are counted)."""

    def __init__(
        self,
        settings: InternalEventSettings,
        metrics: GatewayMetrics | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if not settings.endpoint:
            raise ValueError("AIGW_INTERNAL_EVENT__ENDPOINT is required when events are enabled")
        self.url = collector_url(settings.endpoint)
        self.app_id = settings.app_id
        self.namespace = settings.namespace
        self.batch_size = settings.batch_size
        self.flush_interval_s = settings.flush_interval_s
        self.metrics = metrics
        self.sent = self.dropped = self.failed = 0
        self._counts = threading.Lock()
        self._queue: queue.Queue[_Pending] = queue.Queue(maxsize=settings.queue_size)
        self._client = client or httpx.Client(timeout=SEND_TIMEOUT_S)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"aigw-events-{i}", daemon=True)
            for i in range(settings.thread_count)
        ]
        for thread in self._threads:
            thread.start()

    def track_event(
        self,
        event_name: str,
        context: Mapping[str, Any],
        additional_properties: Mapping[str, Any] | None = None,
        category: str = "",
    ) -> bool:
        item = (
            event_name,
            category,
            dict(context),
            dict(additional_properties or {}),
            int(time.time() * 1000),
        )
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._count("dropped", 1)
            return False
        return True

    def _count(self, outcome: str, n: int) -> None:
        with self._counts:
            setattr(self, outcome, getattr(self, outcome) + n)
        if self.metrics is not None:
            self.metrics.event(outcome, n)

    def payload(self, item: _Pending) -> dict[str, Any]:
        name, category, context, props, created_ms = item
        extra = {k: v for k, v in props.items() if k not in ("label", "property", "value")}
        standard = {**context.get("standard", {}), "extra": extra}
        contexts = {
            "schema": CONTEXTS_SCHEMA,
            "data": [
                {"schema": STANDARD_CONTEXT_SCHEMA, "data": standard},
                {"schema": AI_CONTEXT_SCHEMA, "data": context.get("ai", {})},
            ],
        }
        event: dict[str, Any] = {
            "e": "se",
            "se_ca": category or "default",
            "se_ac": name,
            "eid": str(uuid.uuid4()),
            "dtm": str(created_ms),
            "aid": self.app_id,
            "tna": self.namespace,
            "p": "srv",
            "tv": TRACKER_VERSION,
            "cx": base64.urlsafe_b64encode(json.dumps(contexts).encode()).decode(),
        }
        for field, key in (("label", "se_la"), ("property", "se_pr")):
            if props.get(field) is not None:
                event[key] = str(props[field])
        if props.get("value") is not None:
            event["se_va"] = str(props["value"])
        return event

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.flush_interval_s
            while len(batch) < self.batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._stop.is_set() and self._queue.empty()):
                    break
                try:
                    batch.append(self._queue.get(timeout=min(remaining, 0.1)))
                except queue.Empty:
                    continue
            self._send(batch)

    def _send(self, batch: list[_Pending]) -> None:
        sent_ms = str(int(time.time() * 1000))
        events = [{**self.payload(item), "stm": sent_ms} for item in batch]
        body = {"schema": PAYLOAD_SCHEMA, "data": events}
        for attempt in range(SEND_ATTEMPTS):
            try:
                response = self._client.post(self.url, json=body)
                if response.status_code < 300:
                    self._count("sent", len(batch))
                    return
                if response.status_code < 500:
                    break  # the collector rejects it: retrying will not help
            except httpx.HTTPError as exc:
                logger.warning("internal events: send failed (%s)", type(exc).__name__)
            if attempt + 1 < SEND_ATTEMPTS:
                time.sleep(0.2)
        self._count("failed", len(batch))

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (within `timeout_s`), then stop the threads."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._client.close()


def event_sink(settings: InternalEventSettings, metrics: GatewayMetrics | None) -> EventSink:
    if not settings.enabled:
        return NullEventSink()
    return SnowplowEmitter(settings, metrics)
