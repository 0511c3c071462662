"""A model's `params:` are typed once, at load, and a call's parameters are resolved once,
where the ModelRequest is built (`core.calls.model_request`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from core.calls import model_request
from core.model_params import ModelParams
from core.types import Message, ModelTarget, Sampling, Timeouts
from deployments.backends.common import Deadlines, stop_sequences
from deployments.backends.vllm.spec import CustomModelSpec
from routing.catalogue import CONFIGS_DIR, load_catalogue


def test_params_as_operators_write_them_become_typed_target_fields() -> None:
    params = ModelParams.model_validate(
        {
            "temperature": 0.7,
            "max_tokens": 48,
            "stop": ["\n\n"],
            "timeout_s": 60,
            "completion_type": "text",
            "fim_format": "<PRE>{prefix}<SUF>{suffix}<MID>",
            "context_max_percent": 0.3,
            "context_window_includes_output": True,
        }
    )
    target = ModelTarget(backend="b", engine="e", name="n", **params.target_fields())
    assert target.sampling == Sampling(max_tokens=48, temperature=0.7)
    assert target.stop == ("\n\n",) and target.timeouts == Timeouts(total_s=60)
    assert target.completion.type == "text" and target.completion.context_max_percent == 0.3
    assert target.completion.fim_format == "<PRE>{prefix}<SUF>{suffix}<MID>"
    assert target.context_window_includes_output


@pytest.mark.parametrize(
    "bad",
    [
        {"max_token": 64},  # a typo is refused, not ignored
        {"pinned_params": True},  # internal: set for custom models, never by a file
        {"completion_type": "FIM"},
        {"fim_format": "{prefix} only"},
        {"context_max_percent": 2},
    ],
)
def test_bad_params_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ModelParams.model_validate(bad)


def test_an_unknown_catalogue_param_fails_the_load_naming_model_and_key(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS_DIR, configs, ignore=shutil.ignore_patterns("prompts"))
    raw = yaml.safe_load((configs / "models.yml").read_text())
    raw["models"][2]["params"]["max_token"] = 64
    (configs / "models.yml").write_text(yaml.safe_dump(raw))
    ident = raw["models"][2]["identifier"]
    with pytest.raises(ValueError, match=f"model '{ident}': unknown key 'params.max_token'"):
        load_catalogue(configs)


def test_an_unknown_custom_model_param_fails_start_up() -> None:
    with pytest.raises(ValidationError, match=r"params\.temprature"):
        CustomModelSpec.model_validate(
            {"name": "m", "model_source": "/m", "params": {"temprature": 0.1}}
        )


TARGET = ModelTarget(
    backend="openai_compat",
    engine="litellm",
    name="m",
    sampling=Sampling(max_tokens=128, temperature=0.2, top_p=0.9),
    stop=("</new_code>",),
    timeouts=Timeouts(total_s=20, first_byte_s=5),
)


def test_a_call_takes_its_own_values_over_the_models_defaults() -> None:
    request = model_request(
        TARGET,
        kind="chat",
        messages=[Message(role="user", content="hi")],
        sampling=Sampling(max_tokens=16),
        stop=["\n\n", "</new_code>"],
        timeout_s=30,
    )
    assert (request.max_tokens, request.temperature, request.top_p) == (16, 0.2, 0.9)
    assert request.stop == ["\n\n", "</new_code>"]  # the call's, then the model's, each once
    assert request.timeouts == Timeouts(total_s=30, first_byte_s=5)


def test_each_call_gets_its_own_total_deadline_and_the_model_keeps_its_own() -> None:
    """The model's deadlines with a call's total are made once per pair and reused."""
    totals = [model_request(TARGET, timeout_s=t).timeouts for t in (30, 45, 30, 45, 20)]
    assert [t.total_s for t in totals] == [30, 45, 30, 45, 20]
    assert all(t.first_byte_s == 5 for t in totals)
    assert model_request(TARGET).timeouts == TARGET.timeouts == Timeouts(total_s=20, first_byte_s=5)
    other = TARGET.model_copy(update={"timeouts": Timeouts(total_s=20, first_byte_s=9)})
    assert model_request(other, timeout_s=30).timeouts == Timeouts(total_s=30, first_byte_s=9)


def test_a_backend_reads_the_request_only() -> None:
    """The model's defaults reach a backend through the request, never around it."""
    bare = model_request(TARGET).model_copy(
        update={"max_tokens": None, "stop": [], "timeouts": Timeouts()}
    )
    assert stop_sequences(bare) == []
    assert Deadlines.of(bare, 1.0, 2.0) == Deadlines(first_byte_s=1.0, total_s=2.0)
    resolved = model_request(TARGET)
    assert stop_sequences(resolved) == ["</new_code>"]
    assert Deadlines.of(resolved, 1.0, 2.0) == Deadlines(first_byte_s=5, total_s=20)


def test_the_shipped_catalogue_loads_typed() -> None:
    fireworks = load_catalogue().models["codestral_2508_fireworks"]
    assert fireworks.params.max_tokens == 48 and fireworks.params.context_max_percent == 0.3
