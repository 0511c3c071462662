"""The mock targets of registry prompts (API.md §4.1, §4.3): decisions, no I/O.

Legacy model calls keep the echo mock (`routing.router.MOCK_TEXT` / `MOCK_CHAT`); registry
prompts answer `mock`, or replay scripted turns when the agentic mock is on.
"""

from __future__ import annotations

from core.types import MockMode, ModelTarget

FAKE_MODEL = ModelTarget(
    backend="mock",
    engine="fake-model-provider-mocked",
    name="fake-model",
    mock=MockMode(answer="fake"),
)


def agentic_target(use_last_human_message: bool = True) -> ModelTarget:
    return ModelTarget(
        backend="mock",
        engine="agentic-fake-model-provider-mocked",
        name="agentic-fake-model",
        mock=MockMode(answer="agentic", use_last_human_message=use_last_human_message),
    )


def registry_mock_target(agentic: bool, use_last_human_message: bool = True) -> ModelTarget:
    return agentic_target(use_last_human_message) if agentic else FAKE_MODEL
