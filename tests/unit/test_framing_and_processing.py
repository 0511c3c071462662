"""Framing helpers, language detection, post-processing, routing."""

from __future__ import annotations

import pytest

from core.errors import ModelUnavailable
from core.mock_models import MOCK_TEXT
from deployments.suggestions.languages import detect_language
from deployments.suggestions.post_processing import (
    FenceStripper,
    clean_model_reflection,
    post_process_completion,
    post_process_generation,
)
from routing.catalogue import load_catalogue
from routing.model_router import ModelRouter
from serve_app.api.framing import content_chunk, ndjson_line, sse_event


def test_sse_event_framing():
    assert sse_event("stream_end", None) == "event: stream_end\r\ndata: null\r\n\r\n"
    expected = '{"choices": [{"delta": {"content": "a\\nb"}, "index": 0}]}'
    assert content_chunk("a\nb") == f"event: content_chunk\r\ndata: {expected}\r\n\r\n"
    assert ndjson_line({"type": "x"}) == '{"type": "x"}\n'


@pytest.mark.parametrize(
    "text", ["", "x", 'say "hi"\\', "tab\there\r\n", "é中😀\u2028", "\x00\x1f"]
)
def test_content_chunk_is_the_json_of_the_whole_event(text):
    data = {"choices": [{"delta": {"content": text}, "index": 0}]}
    assert content_chunk(text) == sse_event("content_chunk", data)


@pytest.mark.parametrize(
    ("file_name", "editor", "lang"),
    [
        ("a.py", None, "python"),
        ("src/x.C", None, "cpp"),
        ("src/x.c", None, "c"),
        ("App.tsx", None, "ts"),
        ("Dockerfile", None, "dockerfile"),
        ("noext", "javascriptreact", "js"),
        ("x.unknownext", "csharp", "csharp"),
        ("a.py", "ruby", "python"),  # the extension wins
        ("noext", None, None),
    ],
)
def test_language_detection(file_name, editor, lang):
    found = detect_language(file_name, editor)
    assert (found.lang if found else None) == lang


def test_completion_pipeline_steps_can_be_switched_off():
    assert post_process_completion("   \n ", "x") == ""
    assert post_process_completion("   \n ", "x", excluded=["strip_whitespaces"]) == "   \n "
    assert post_process_completion("a<|cursor|>b", "") == "ab"
    assert post_process_completion("***** text", "", engine="vertex-ai") == ""


def test_model_reflection_drops_repeated_lines():
    prefix = "import os\nimport sys\n\ndef main():\n"
    completion = "    run()\nimport os\nimport sys\n    done()"
    assert clean_model_reflection(completion, prefix) == "    run()\n    done()"


def test_generation_strips_fences_and_starts_on_a_new_line():
    # Fence lines and trailing backticks go; the newline before the closing fence stays.
    assert post_process_generation("```python\nprint(1)\n```", "x = 1") == "\nprint(1)\n"
    assert post_process_generation("```python\nprint(1)\n```", "x = 1\n") == "print(1)\n"
    assert post_process_generation("  ", "x") == ""


def test_streamed_fence_stripping_survives_split_chunks():
    stripper = FenceStripper()
    out = []
    for piece in ["``", "`py", "thon\nprint(", "1)\n``", "`\n"]:
        out.extend(stripper.feed(piece))
    out.extend(stripper.finish())
    assert "".join(out) == "print(1)\n"


def test_router_falls_back_to_a_configured_backend():
    catalogue = load_catalogue()
    assert ModelRouter(catalogue, {"mock"}).choose("code_completions") == MOCK_TEXT
    vertex = ModelRouter(catalogue, {"mock", "vertex"}).choose("code_completions")
    assert vertex.engine == "vertex-ai" and vertex.name == "codestral-2508"
    with pytest.raises(ModelUnavailable):
        ModelRouter(catalogue, set()).choose("code_completions")
