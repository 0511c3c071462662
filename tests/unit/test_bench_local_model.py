"""bench.local_model's --fresh-prompt: two runs' model calls must share at most their first
tokens, or the model's KV cache would skip most of the prompt evaluation, unevenly across the
paths; without it every run's call is the same."""

from bench.local_model import WARM_RUN, gateway_body, gateway_request


def _shared_start(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def test_fresh_prompts_share_only_their_first_characters() -> None:
    repeated = gateway_request(None).prefix
    assert gateway_request(None).prefix == repeated
    runs = [WARM_RUN, 0, 1, 2, 9, 10, 11, 100, 499]
    prompts = {run: gateway_request(run).prefix for run in runs}
    assert len(set(prompts.values())) == len(runs)
    for a in runs:
        for b in runs:
            if a != b:
                assert _shared_start(prompts[a], prompts[b]) <= 4, (a, b)
    # The gateway is sent the text the direct call is made with.
    assert gateway_body(9)["current_file"]["content_above_cursor"] in prompts[9]
