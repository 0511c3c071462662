"""How a flow turns the model it chose into the call it makes: the one place a call's
parameters are resolved (API.md §5.2), so a backend reads only the request's own fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from core.types import Message, ModelRequest, ModelTarget, Sampling


def model_request(
    target: ModelTarget,
    *,
    kind: Literal["completion", "chat"] = "completion",
    prefix: str = "",
    suffix: str = "",
    messages: list[Message] | None = None,
    sampling: Sampling | None = None,
    stop: Sequence[str] = (),
    timeout_s: float | None = None,
    stream: bool = False,
    correlation_id: str = "",
) -> ModelRequest:
    """A call to `target`: `sampling` (the call's own values, a prompt file's...) over the
    model's defaults, the call's stop sequences then the model's own, the call's deadline
    over the model's."""
    values = target.sampling if sampling is None else sampling.over(target.sampling)
    stops = list(dict.fromkeys([*stop, *target.stop])) if target.stop else list(stop)
    timeouts = target.timeouts
    if timeout_s is not None and timeout_s != timeouts.total_s:  # no copy that changes nothing
        timeouts = timeouts.model_copy(update={"total_s": timeout_s})
    return ModelRequest(
        target=target,
        kind=kind,
        prefix=prefix,
        suffix=suffix,
        messages=messages if messages is not None else [],
        stop=stops,
        max_tokens=values.max_tokens,
        temperature=values.temperature,
        top_p=values.top_p,
        top_k=values.top_k,
        timeouts=timeouts,
        stream=stream,
        correlation_id=correlation_id,
    )
