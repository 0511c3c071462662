"""The catalogue entries of the embedded model follow the GGUF an operator configured."""

from __future__ import annotations

from pathlib import Path

from core.settings import LocalModelSettings
from routing.catalogue import Catalogue

LOCAL_BACKEND = "local"


def with_local_model(catalogue: Catalogue, settings: LocalModelSettings) -> Catalogue:
    """`local` models report the configured family (prompt selection), context length
    (truncation budget) and, for a custom GGUF, its file name as the model name."""
    models = dict(catalogue.models)
    for ident, model in catalogue.models.items():
        if model.backend != LOCAL_BACKEND:
            continue
        update: dict[str, object] = {
            "family": tuple(settings.family) or ("base",),
            "max_context_tokens": settings.context_length,
        }
        if settings.path:
            update["provider_model"] = Path(settings.path).stem
        models[ident] = model.model_copy(update=update)
    return catalogue.model_copy(update={"models": models})
