"""How a flow turns the model it chose into the call it makes: the one place a call's
parameters are resolved (API.md §5.2), so a backend reads only the request's own fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from core.types import Message, ModelRequest, ModelTarget, Sampling, Timeouts


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
    if timeout_s is not None and timeout_s != timeouts.total_s:
        timeouts = _with_total(timeouts, timeout_s)
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


# A model's deadlines with a prompt file's total: the same few pairs on every call (catalogue
# targets live as long as the replica), so each is copied once. Keyed by identity, the
# original kept alive with its copy so that its id is not reused; bounded for targets built
# per request (a custom endpoint's).
_TOTALS: dict[tuple[int, float], tuple[Timeouts, Timeouts]] = {}
_TOTALS_MAX = 256


def _with_total(timeouts: Timeouts, total_s: float) -> Timeouts:
    key = (id(timeouts), total_s)
    found = _TOTALS.get(key)
    if found is not None and found[0] is timeouts:
        return found[1]
    copied = timeouts.model_copy(update={"total_s": total_s})
    if len(_TOTALS) >= _TOTALS_MAX:
        _TOTALS.clear()
    _TOTALS[key] = (timeouts, copied)
    return copied
