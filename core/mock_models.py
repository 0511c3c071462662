"""The mock models of mock mode (API.md §4.1, §4.3), as the targets that report them.

A mock answers as the model class a call uses, as upstream's mock selector does: a text call
gets the legacy text model's echo (`llm-mocked`); a chat call, and every code generation, the
legacy chat model's echo (`chat-model-mocked`); a registry prompt's call, in mock mode, the
prompt registry's fake model (`fake-model`) or the agentic mock's scripted turns. Routing
answers a choice with an echo mock; `answering` gives the one of the call a flow makes.
"""

from __future__ import annotations

from typing import Literal

from core.types import MockMode, ModelTarget

Call = Literal["text", "chat", "prompt"]  # the model class a flow calls

MOCK_BACKEND = "mock"
ECHO = MockMode()
MOCK_TEXT = ModelTarget(
    backend=MOCK_BACKEND, engine="llm-provider-mocked", name="llm-mocked", mock=ECHO
)
MOCK_CHAT = ModelTarget(
    backend=MOCK_BACKEND, engine="chat-model-provider-mocked", name="chat-model-mocked", mock=ECHO
)
FAKE_MODEL = ModelTarget(
    backend=MOCK_BACKEND,
    engine="fake-model-provider-mocked",
    name="fake-model",
    mock=MockMode(answer="fake"),
)


def agentic_target(use_last_human_message: bool = True) -> ModelTarget:
    return _AGENTIC[use_last_human_message]


_AGENTIC = {
    last: ModelTarget(
        backend=MOCK_BACKEND,
        engine="agentic-fake-model-provider-mocked",
        name="agentic-fake-model",
        mock=MockMode(answer="agentic", use_last_human_message=last),
    )
    for last in (True, False)
}


def answering(target: ModelTarget, call: Call) -> ModelTarget:
    """`target` as a call of this kind reports it: itself, unless it is an echo mock and the
    call uses another mock model."""
    mock = target.mock
    if mock is None or mock.answer != "echo" or call == "text":
        return target
    if call == "prompt" and mock.prompts is not None:  # mock mode: the registry's mock
        return FAKE_MODEL if mock.prompts == "fake" else agentic_target(mock.use_last_human_message)
    return MOCK_CHAT
