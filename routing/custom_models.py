"""Custom (self-hosted) models join the catalogue: each is a model like any other, and the
features it is declared for take it as their default model."""

from __future__ import annotations

from collections.abc import Sequence

from deployments.backends.vllm.spec import CustomModelSpec
from routing.catalogue import Catalogue, CatalogueModel, FeatureSetting

ENGINE = "vllm"


def catalogue_model(spec: CustomModelSpec) -> CatalogueModel:
    return CatalogueModel(
        identifier=spec.name,
        name=spec.display_name or spec.name,
        provider="Self-hosted (vLLM)",
        backend=spec.backend,
        engine=ENGINE,
        provider_model=spec.name,
        family=spec.family,
        max_context_tokens=spec.context_tokens,
        description=f"Self-hosted model served by vLLM replicas in the graph ({spec.name})",
        cost_indicator="$",
        params=spec.params,
        pinned_sampling=True,  # the operator knows the model: its values win over prompt files'
    )


def with_custom_models(catalogue: Catalogue, specs: Sequence[CustomModelSpec]) -> Catalogue:
    """The catalogue plus `specs`; a feature a spec names gets it as default model, the old
    default and fallbacks staying behind it, and may select it. When several specs name one
    feature, the first declared is the default and the others its first fallbacks."""
    if not specs:
        return catalogue
    models = dict(catalogue.models)
    features = dict(catalogue.features)
    for spec in specs:
        if spec.name in models:
            raise ValueError(f"custom model {spec.name!r} clashes with a catalogue model")
        models[spec.name] = catalogue_model(spec)
    for spec in reversed(specs):
        for feature in spec.features:
            current = features.get(feature)
            if current is None:
                features[feature] = FeatureSetting(
                    default_model=spec.name, selectable_models=(spec.name,)
                )
                continue
            fallbacks = (current.default_model, *current.fallback_models)
            features[feature] = current.model_copy(
                update={
                    "default_model": spec.name,
                    "fallback_models": tuple(f for f in fallbacks if f != spec.name),
                    "selectable_models": tuple(
                        dict.fromkeys((spec.name, *current.selectable_models))
                    ),
                }
            )
    return catalogue.model_copy(update={"models": models, "features": features})
