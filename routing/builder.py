"""The final catalogue, built once by the app builder and bound to the Ingress as is."""

from __future__ import annotations

from collections.abc import Sequence

from core.settings import Config
from deployments.backends.vllm.spec import CustomModelSpec
from routing.catalogue import Catalogue, load_catalogue
from routing.custom_models import with_custom_models
from routing.local_model import with_local_model
from routing.mock_overlay import with_mock_overlay


def final_catalogue(settings: Config, custom_models: Sequence[CustomModelSpec] = ()) -> Catalogue:
    """The catalogue every routing decision reads: configs/ (models, feature settings,
    provider tables), the operator's custom models, the embedded model's entries following the
    configured GGUF, and in mock mode the mock overlay."""
    catalogue = with_custom_models(load_catalogue(), custom_models)
    catalogue = with_local_model(catalogue, settings.local_model)
    if settings.mock_model_responses:
        catalogue = with_mock_overlay(
            catalogue,
            agentic=settings.use_agentic_mock,
            use_last_human_message=settings.agentic_mock.use_last_human_message,
        )
    return catalogue
