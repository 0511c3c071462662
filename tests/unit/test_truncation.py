"""Token-budget truncation (API.md §7.3) with the embedded model's real tokenizer."""

from __future__ import annotations

import math

import pytest

from deployments.suggestions.token_counting import CharTokenizer
from deployments.suggestions.tokenizer import Tokenizer, default_tokenizer
from deployments.suggestions.truncation import fit, keep_first, keep_last

LINE = "x = 1\n"  # five tokens in SmolLM2's vocabulary: 'x' ' =' ' ' '1' '\n'


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return default_tokenizer()


def test_line_is_five_tokens(tok: Tokenizer) -> None:
    assert tok.count(LINE) == 5 and tok.count(LINE * 20) == 100


@pytest.mark.parametrize(
    ("max_input", "prefix_budget", "suffix_budget"),
    [(100, 93, 7), (101, 94, 7), (10, 10, 0), (14, 14, 0), (15, 14, 1), (0, 0, 0)],
)
def test_budget_split_is_ceil_93_percent(
    tok: Tokenizer, max_input: int, prefix_budget: int, suffix_budget: int
) -> None:
    fitted = fit(tok, prefix=LINE * 50, suffix=LINE * 50, max_input_tokens=max_input)
    assert fitted.prefix_part.tokens == prefix_budget == math.ceil(0.93 * max_input)
    assert fitted.suffix_part.tokens == suffix_budget
    assert tok.count(fitted.prefix) == prefix_budget
    assert tok.count(fitted.suffix) == suffix_budget


def test_prefix_is_cut_from_the_left_and_suffix_from_the_right(tok: Tokenizer) -> None:
    prefix = "".join(f"a{i} = {i}\n" for i in range(200)) + "def cursor_here("
    suffix = "):\n    pass\n" + "".join(f"b{i} = {i}\n" for i in range(200))
    fitted = fit(tok, prefix=prefix, suffix=suffix, max_input_tokens=300)
    assert fitted.prefix.endswith("def cursor_here(") and prefix.endswith(fitted.prefix)
    assert fitted.suffix.startswith("):\n    pass\n") and suffix.startswith(fitted.suffix)
    assert fitted.prefix_part.tokens == 279 and fitted.suffix_part.tokens == 21


def test_exact_budget_edges(tok: Tokenizer) -> None:
    # The prefix budget for 100 tokens is 93: 93 tokens pass untouched, 94 lose one token.
    exactly = "1\n" + LINE * 18 + "y"  # 2 + 90 + 1 = 93 tokens
    assert tok.count(exactly) == 93
    assert fit(tok, prefix=exactly, suffix="", max_input_tokens=100).prefix == exactly
    over = "z" + exactly
    assert tok.count(over) == 94
    cut = fit(tok, prefix=over, suffix="", max_input_tokens=100)
    assert cut.prefix == exactly and cut.prefix_part.tokens == 93
    # The suffix gets 7 of 100: seven tokens pass, eight lose the last one.
    seven, eight = "x = 1\nx =", "x = 1\nx = "
    assert (tok.count(seven), tok.count(eight)) == (7, 8)
    assert fit(tok, prefix="", suffix=seven, max_input_tokens=100).suffix == seven
    assert fit(tok, prefix="", suffix=eight, max_input_tokens=100).suffix == seven


def test_template_tokens_come_off_the_budget(tok: Tokenizer) -> None:
    fitted = fit(tok, prefix=LINE * 50, suffix="", max_input_tokens=120, template_tokens=20)
    assert fitted.budget == 100 and fitted.prefix_part.tokens == 93


def test_multibyte_text_is_cut_on_character_boundaries(tok: Tokenizer) -> None:
    emoji = "😀"  # three byte-level tokens
    assert tok.count(emoji * 3) == 9
    assert keep_last(tok, emoji * 3, 4).text == emoji  # never half a character
    assert keep_last(tok, emoji * 3, 6).text == emoji * 2
    assert keep_first(tok, emoji * 3, 8).text == emoji * 2
    text = "# 日本語のコメント\nprint('héllo wörld')\n"
    for budget in range(tok.count(text) + 1):
        left, right = keep_last(tok, text, budget), keep_first(tok, text, budget)
        assert left.tokens <= budget and text.endswith(left.text)
        assert right.tokens <= budget and text.startswith(right.text)
        assert "\ufffd" not in left.text + right.text


def test_context_fills_what_is_left_capped_by_percent(tok: Tokenizer) -> None:
    context = [LINE * 10, "y = 2\n" * 10]  # 50 + 50 tokens, joined by "\n"
    fitted = fit(tok, prefix=LINE * 4, suffix="", max_input_tokens=100, context=context)
    assert fitted.context_sent.tokens == tok.count("\n".join(context))
    assert fitted.context_used.tokens == 80  # 100 - 20 (prefix), cap 100 %
    assert fitted.prefix == fitted.context_used.text + "\n" + LINE * 4
    capped = fit(
        tok,
        prefix=LINE * 4,
        suffix="",
        max_input_tokens=100,
        context=context,
        context_max_percent=0.3,
    )
    assert capped.context_used.tokens == 30
    assert capped.context_used.text == LINE * 6
    full = fit(tok, prefix=LINE * 50, suffix=LINE * 50, max_input_tokens=100, context=context)
    assert full.context_used.tokens == 0 and full.prefix == full.prefix_part.text


def test_char_tokenizer_stand_in_round_trips() -> None:
    tok = CharTokenizer()
    text = "héllo 😀 wörld\n" * 3
    assert tok.decode(tok.encode(text)) == text
    fitted = fit(tok, prefix=text, suffix=text, max_input_tokens=10)
    assert text.endswith(fitted.prefix) and fitted.prefix_part.tokens == 10


def test_long_texts_are_cut_the_same_through_the_window(tok: Tokenizer) -> None:
    code = "".join(f"value_{i} = compute({i}, other)\n" for i in range(4000))  # ~130k chars
    whole_ids = tok.encode(code)
    tail = keep_last(tok, code, 500)
    assert tail.text == tok.decode(whole_ids[-500:]) and tail.tokens == 500
    head = keep_first(tok, code, 500)
    assert head.text == tok.decode(whole_ids[:500]) and head.tokens == 500
    # Text with very long tokens (runs of spaces) makes the window widen, not under-fill.
    sparse = ("x" + " " * 300) * 400
    cut = keep_last(tok, sparse, 50)
    assert cut.text == tok.decode(tok.encode(sparse)[-50:]) and cut.tokens <= 50


class Spy:
    """A tokenizer that notes how many characters it was given to tokenize."""

    def __init__(self, inner: Tokenizer | CharTokenizer) -> None:
        self.inner = inner
        self.max_chars_per_token = inner.max_chars_per_token
        self.chars = 0

    def encode(self, text: str) -> list[int]:
        self.chars += len(text)
        return self.inner.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.inner.decode(ids)

    def count(self, text: str) -> int:
        return len(self.encode(text))


def test_no_token_is_longer_than_max_chars_per_token(tok: Tokenizer) -> None:
    longest = max(len(tok.decode([i])) for i in range(tok.vocab_size))
    assert longest <= tok.max_chars_per_token == 81  # "\n" and 80 spaces


def test_text_that_cannot_fit_the_budget_is_never_tokenized() -> None:
    """A context of the contract's maximum shape (100 items) for a 2,000-token budget: the
    tokenizer sees a few times what the budget can hold, not the 5 M characters sent."""
    spy = Spy(CharTokenizer())
    item = "def f(x):\n    return x * 2\n" * 1800  # ~50k characters
    fitted = fit(spy, prefix=item, suffix=item, max_input_tokens=2000, context=[item] * 100)
    cap = 2001 * spy.max_chars_per_token
    assert spy.chars < 12 * cap  # before: over 5,000,000
    assert fitted.prefix_part.tokens + fitted.suffix_part.tokens == 2000
    assert fitted.context_sent.tokens == math.ceil((len(item) * 100 + 99) / 4)


def test_the_char_cut_keeps_what_the_whole_text_tokenized_keeps(tok: Tokenizer) -> None:
    """The old path tokenized everything; on inputs it could afford the result is the same."""
    items = [
        "".join(f"def handler_{n}_{i}(event):\n    return {i} * event\n" for i in range(300))
        for n in range(20)
    ]  # 20 files of ~12k characters, ~80k tokens in all
    code = "".join(f"value_{i} = compute({i}, other)\n" for i in range(400))
    fitted = fit(tok, prefix=code, suffix=code, max_input_tokens=2000, context=items)
    joined_ids = tok.encode("\n".join(items))
    prefix_ids, suffix_ids = tok.encode(code), tok.encode(code)
    assert fitted.prefix_part.text == tok.decode(prefix_ids[-1860:])
    assert fitted.suffix_part.text == tok.decode(suffix_ids[:140])
    assert fitted.context_used.tokens == 0  # prefix and suffix took the budget
    wide = fit(tok, prefix="x = 1\n", suffix="", max_input_tokens=2000, context=items)
    room = 2000 - 5
    assert wide.context_used.text == tok.decode(joined_ids[:room])
    assert wide.context_used.tokens == room
    # Past the character cap `context_tokens_sent` is scaled from the part tokenized.
    assert abs(wide.context_sent.tokens - len(joined_ids)) / len(joined_ids) < 0.02
    small = fit(tok, prefix="x = 1\n", suffix="", max_input_tokens=2000, context=items[:1])
    assert small.context_sent.tokens == tok.count(items[0])  # exact while within the cap
