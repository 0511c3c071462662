"""bench.local_model's --fresh-prompt: two runs' model calls must share at most their first
tokens, or the model's KV cache would skip most of the prompt evaluation, unevenly across the
paths; without it every run's call is the same."""

from bench.local_model import gateway_body, gateway_request, shared_model


def _shared_start(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def test_fresh_prompts_share_only_their_first_characters() -> None:
    repeated = gateway_request(None).prefix
    assert gateway_request(None).prefix == repeated
    runs: list[int | None] = [2 * i for i in (0, 1, 5, 50, 499)]
    runs += [shared_model(run) for run in runs]
    prompts = {run: gateway_request(run).prefix for run in runs}
    assert len(set(prompts.values())) == len(runs)
    # The warm-ups' repeated prompt leaves nothing in a KV cache that a fresh one starts with.
    assert all(_shared_start(repeated, prompt) == 0 for prompt in prompts.values())
    for a in runs:
        for b in runs:
            if a != b:
                assert _shared_start(prompts[a], prompts[b]) <= 4, (a, b)
    # The gateway is sent the text the direct call is made with.
    assert gateway_body(2)["current_file"]["content_above_cursor"] in prompts[2]
