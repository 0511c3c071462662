"""The embedded model's tokenizer (vocab-only llama.cpp load of the shipped GGUF)."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp")

from deployments.suggestions.tokenizer import Tokenizer, default_gguf_path, default_tokenizer


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return default_tokenizer()


def test_default_tokenizer_is_cached_per_process(tok: Tokenizer) -> None:
    assert default_tokenizer() is tok
    assert tok.path == default_gguf_path()
    assert tok.vocab_size == 49152  # SmolLM2's vocabulary


def test_encode_decode_round_trip_with_multibyte_text(tok: Tokenizer) -> None:
    text = "def grüß(名前):\n    return '😀'  # ünïcode\n"
    ids = tok.encode(text)
    assert ids and all(isinstance(i, int) for i in ids)
    assert tok.decode(ids) == text
    assert tok.count(text) == len(ids)


def test_empty_text_has_no_tokens(tok: Tokenizer) -> None:
    assert tok.encode("") == []
    assert tok.count("") == 0
    assert tok.decode([]) == ""


def test_special_token_text_in_user_code_is_plain_text(tok: Tokenizer) -> None:
    # `<|im_start|>` is token 1 as a control token; inside code it must stay ordinary text.
    ids = tok.encode("<|im_start|>")
    assert 1 not in ids
    assert tok.decode(ids) == "<|im_start|>"


def test_truncate_left_keeps_the_end_at_exact_budget(tok: Tokenizer) -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta"
    n = tok.count(text)
    assert tok.truncate_left(text, n) == text
    cut = tok.truncate_left(text, 3)
    assert text.endswith(cut) and cut
    assert tok.count(cut) == 3
    assert tok.truncate_left(text, 0) == ""


def test_truncate_right_keeps_the_start_at_exact_budget(tok: Tokenizer) -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta"
    n = tok.count(text)
    assert tok.truncate_right(text, n + 5) == text
    cut = tok.truncate_right(text, 3)
    assert text.startswith(cut) and cut
    assert tok.count(cut) == 3
    assert tok.truncate_right(text, -1) == ""


def test_truncation_through_multibyte_characters_never_yields_replacement_chars(
    tok: Tokenizer,
) -> None:
    text = "名前の一覧を返す関数" * 5
    for budget in range(1, 12):
        left = tok.truncate_left(text, budget)
        right = tok.truncate_right(text, budget)
        assert "\ufffd" not in left and "\ufffd" not in right
        assert text.endswith(left) and text.startswith(right)
        assert tok.count(left) <= budget and tok.count(right) <= budget


def test_missing_file_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError, match="GGUF file not found"):
        Tokenizer.from_gguf(tmp_path / "nope.gguf")


def test_threads_tokenize_at_once_with_the_same_results(tok: Tokenizer) -> None:
    """Threads tokenizing at the same time each borrow a load of the vocabulary, so big files
    tokenized on worker threads never make the event loop's own calls wait."""
    import threading

    text = "def greet(name):\n    return f'héllo {name}' + \"<|im_start|>\"\n" * 300
    expected = tok.encode(text)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(tok.encode(text))
                assert tok.decode(results[-1]) == text
        except BaseException as exc:  # a failed assert in a thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(5):
        assert tok.encode(text) == expected
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(results) == 15 and all(ids == expected for ids in results)
    assert 1 <= len(tok._idle) <= 4  # a load per thread that overlapped, all idle again
