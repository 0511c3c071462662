"""Responses of `/monitoring/healthz`, `/monitoring/ready` (API.md §1.1) and
`/v1/models/definitions` (§1.10)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class HealthResponse(BaseModel):
    """Liveness: an empty object, as fastapi-health answers with no checks."""


class ReadinessResponse(BaseModel):
    """Readiness: every backend's probe, by backend name."""

    backends: dict[str, bool]


class ModelDefinition(BaseModel):
    name: str
    identifier: str
    provider: str
    deprecation: str | None
    description: str
    cost_indicator: str


class FeatureDefinition(BaseModel):
    """One feature setting: its default, fallback and selectable models."""

    feature_setting: str
    default_model: str
    default_models: list[str]
    models_for_tags: dict[str, Any]
    models_for_size_preference: dict[str, Any]
    selectable_models: list[str]
    beta_models: list[str]
    deprecated_models: list[str]
    dev: Any
    unit_primitives: list[str]


class ModelDefinitionsResponse(BaseModel):
    models: list[ModelDefinition]
    unit_primitives: list[FeatureDefinition]
