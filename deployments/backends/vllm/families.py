"""Per-family prompt details for self-hosted models: fill-in-the-middle layout and stop tokens
(API.md §6.4). A family without a FIM layout completes from the text before the cursor only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FamilyPrompting:
    fim_template: str | None = None
    stop: tuple[str, ...] = ()


_QWEN_FIM = "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"

FAMILIES: dict[str, FamilyPrompting] = {
    "codestral": FamilyPrompting(
        "[SUFFIX]{suffix}[PREFIX]{prefix}[MIDDLE]",
        ("\n\n", "\n+++++", "[PREFIX]", "</s>[SUFFIX]", "[MIDDLE]"),
    ),
    "codegemma": FamilyPrompting(
        _QWEN_FIM,
        ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"),
    ),
    "codellama": FamilyPrompting("<PRE> {prefix} <SUF>{suffix} <MID>", ("<EOT>",)),
    # DeepSeek's special tokens use U+FF5C FULLWIDTH VERTICAL LINE and U+2581.
    "deepseekcoder": FamilyPrompting(
        "<\uff5cfim\u2581begin\uff5c>{prefix}<\uff5cfim\u2581hole\uff5c>{suffix}"
        "<\uff5cfim\u2581end\uff5c>",
        ("<\uff5cend\u2581of\u2581sentence\uff5c>",),
    ),
    "qwen": FamilyPrompting(
        _QWEN_FIM,
        (
            "<|endoftext|>",
            "<|fim_prefix|>",
            "<|fim_suffix|>",
            "<|fim_middle|>",
            "<|file_sep|>",
            "<|im_end|>",
            "\n\n",
        ),
    ),
    "starcoder": FamilyPrompting(
        "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>", ("<|endoftext|>",)
    ),
    "mistral": FamilyPrompting(None, ("</new_code>",)),
    "mixtral": FamilyPrompting(None, ("</new_code>",)),
}


def prompting_for(
    family: Sequence[str], fim_template: str | None = None, stop: Sequence[str] | None = None
) -> FamilyPrompting:
    """The first known family wins; explicit `fim_template` / `stop` override it."""
    known = next((FAMILIES[f] for f in family if f in FAMILIES), FamilyPrompting())
    return FamilyPrompting(
        fim_template if fim_template is not None else known.fim_template,
        tuple(stop) if stop is not None else known.stop,
    )
