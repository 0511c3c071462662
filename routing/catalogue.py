"""The model catalogue (`configs/models.yml`), the feature settings that pick from it and the
provider model tables that map legacy request fields onto it (`configs/provider_models.yml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from core.model_params import ModelParams
from core.types import ModelTarget
from routing.provider_models import ProviderModels

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"


class CatalogueModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier: str  # the GitLab model identifier (`gitlab_identifier` upstream)
    name: str
    provider: str  # display provider
    backend: str  # which backend deployment serves it
    engine: str  # reported as model.engine
    provider_model: str = ""  # the model id sent to the provider
    family: tuple[str, ...] = ("base",)
    max_context_tokens: int = 2048
    description: str = ""
    cost_indicator: str = "$"
    deprecation: str | None = None
    params: ModelParams = ModelParams()
    pinned_sampling: bool = False  # its sampling params win over prompt files' (custom models)


def target_of(model: CatalogueModel) -> ModelTarget:
    """The target a catalogue model is served as."""
    return ModelTarget(
        backend=model.backend,
        engine=model.engine,
        name=model.provider_model or model.identifier,
        identifier=model.provider_model or model.identifier,
        family=model.family,
        max_input_tokens=model.max_context_tokens,
        pinned_sampling=model.pinned_sampling,
        **model.params.target_fields(),
    )


class FeatureSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_model: str
    fallback_models: tuple[str, ...] = ()
    selectable_models: tuple[str, ...] = ()
    beta_models: tuple[str, ...] = ()
    deprecated_models: tuple[str, ...] = ()
    unit_primitives: tuple[str, ...] = ()


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True)

    models: dict[str, CatalogueModel]
    features: dict[str, FeatureSetting]
    provider_models: ProviderModels
    # Mock mode: the model that answers every choice (routing/mock_overlay.py).
    stand_in: ModelTarget | None = None

    def model(self, identifier: str) -> CatalogueModel | None:
        return self.models.get(identifier)

    def definitions(self) -> dict[str, Any]:
        """The body of `GET /v1/models/definitions` (API.md §1.10)."""
        return {
            "models": [
                {
                    "name": m.name,
                    "identifier": m.identifier,
                    "provider": m.provider,
                    "deprecation": m.deprecation,
                    "description": m.description,
                    "cost_indicator": m.cost_indicator,
                }
                for m in self.models.values()
            ],
            "unit_primitives": [
                {
                    "feature_setting": name,
                    "default_model": f.default_model,
                    "default_models": [f.default_model, *f.fallback_models],
                    "models_for_tags": {},
                    "models_for_size_preference": {},
                    "selectable_models": list(f.selectable_models),
                    "beta_models": list(f.beta_models),
                    "deprecated_models": list(f.deprecated_models),
                    "dev": None,
                    "unit_primitives": list(f.unit_primitives),
                }
                for name, f in self.features.items()
            ],
        }


def load_catalogue(configs_dir: Path = CONFIGS_DIR) -> Catalogue:
    """Load and cross-check the catalogue; a broken file fails start-up, never a request."""
    models_raw = yaml.safe_load((configs_dir / "models.yml").read_text())["models"]
    features_raw = yaml.safe_load((configs_dir / "feature_settings.yml").read_text())[
        "feature_settings"
    ]
    providers_raw = yaml.safe_load((configs_dir / "provider_models.yml").read_text())
    models = {m["identifier"]: _model(m) for m in models_raw}
    features = {name: FeatureSetting.model_validate(f) for name, f in features_raw.items()}
    for name, feature in features.items():
        for ident in (feature.default_model, *feature.fallback_models, *feature.selectable_models):
            if ident not in models:
                raise ValueError(f"feature_settings.yml: {name} names unknown model {ident!r}")
    try:
        provider_models = ProviderModels.model_validate(providers_raw)
    except ValidationError as exc:
        raise ValueError(f"provider_models.yml: {problems(exc)}") from None
    provider_models.check_against(models, features)
    return Catalogue(models=models, features=features, provider_models=provider_models)


def _model(raw: dict[str, Any]) -> CatalogueModel:
    try:
        return CatalogueModel.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"models.yml: model {raw.get('identifier')!r}: {problems(exc)}") from None


def problems(exc: ValidationError) -> str:
    """A validation error as one line an operator can act on: each key and what is wrong."""
    found = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            found.append(f"unknown key '{where}'")
        elif err["type"] == "missing":
            found.append(f"missing key '{where}'")
        else:
            found.append(f"key '{where}': {err['msg']}")
    return "; ".join(found)
