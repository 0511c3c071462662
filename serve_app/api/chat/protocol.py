"""Requests of `/v1/chat/{chat_invokable}` and `/v2/chat/agent`, and the legacy chat's response
(API.md §1.6). The agent answers NDJSON events (`deployments/chat/react.py`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from serve_app.api.common import Lenient, LongPrompt, Messages, ModelMetadata, Str255

Str100 = Annotated[str, StringConstraints(max_length=100)]
Stop = Annotated[str, StringConstraints(min_length=1, max_length=225)]

MAX_TOKENS_TO_SAMPLE = 8192
MESSAGES_MAX_TOKENS = 4096  # message-list content goes to the Messages API, clamped


class ChatParams(Lenient):
    stop_sequences: Annotated[list[Stop], Field(min_length=1, max_length=10)] = [
        "\n\nHuman",
        "Observation:",
    ]
    temperature: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    max_tokens_to_sample: Annotated[int, Field(ge=1, le=MAX_TOKENS_TO_SAMPLE)] = 2048


class PromptMetadata(Lenient):
    source: Str100
    version: Str100


class PromptPayload(Lenient):
    content: LongPrompt | Messages
    provider: Literal["anthropic", "litellm"] | None = None
    model: Str255 | None = None
    params: ChatParams | None = None
    model_endpoint: Str255 | None = None
    model_api_key: Annotated[str, StringConstraints(max_length=2000)] | None = None
    model_identifier: Annotated[str, StringConstraints(max_length=1000)] | None = None


class PromptComponent(Lenient):
    type: Str100
    metadata: PromptMetadata
    payload: PromptPayload


class ChatRequest(Lenient):
    prompt_components: Annotated[list[PromptComponent], Field(min_length=1, max_length=1)]
    stream: bool = False


ContextCategory = Literal[
    "file",
    "snippet",
    "merge_request",
    "issue",
    "dependency",
    "local_git",
    "terminal",
    "repository",
    "directory",
    "os_information",
    "agent_user_environment",
]


class AdditionalContext(Lenient):
    category: ContextCategory
    id: Annotated[str, StringConstraints(max_length=1000)] | None = None
    content: Annotated[str, StringConstraints(max_length=400_000)] | None = None
    metadata: dict[str, Any] | None = None


class CurrentFile(Lenient):
    file_path: Annotated[str, StringConstraints(max_length=1000)] = ""
    data: Annotated[str, StringConstraints(max_length=400_000)] = ""
    selected_code: bool = False


class ScratchpadAction(Lenient):
    thought: str = ""
    tool: str
    tool_input: str = ""


class MessageScratchpadStep(Lenient):
    action: ScratchpadAction
    observation: str = ""


class ScratchpadStep(Lenient):
    thought: str = ""
    tool: str
    tool_input: str = ""
    observation: str = ""


class AgentScratchpad(Lenient):
    agent_type: Literal["react"] = "react"
    steps: list[ScratchpadStep] = Field(default_factory=list)


class AgentOptions(Lenient):
    agent_scratchpad: AgentScratchpad | None = None


class AgentMessage(Lenient):
    role: Literal["user", "assistant", "system"]
    content: LongPrompt = ""
    context: dict[str, Any] | None = None
    current_file: CurrentFile | None = None
    additional_context: Annotated[list[AdditionalContext], Field(max_length=100)] | None = None
    agent_scratchpad: list[MessageScratchpadStep] | None = None


class AgentRequest(Lenient):
    messages: Annotated[list[AgentMessage], Field(min_length=1, max_length=100)]
    options: AgentOptions | None = None
    unavailable_resources: Annotated[list[Str255], Field(max_length=50)] | None = None
    model_metadata: ModelMetadata | None = None


class ChatMetadata(BaseModel):
    provider: str
    model: str
    timestamp: int


class ChatResponse(BaseModel):
    """`/v1/chat/{chat_invokable}`'s answer: the model's text, and who wrote it when."""

    response: str
    metadata: ChatMetadata
