"""A tiny random Llama and a byte-level BPE tokenizer trained locally, made at test time.

Nothing is downloaded: the tokenizer learns its merges from this repository's own Python
sources, the weights are random (seeded). head_dim is 32, the smallest vLLM's CPU attention
kernels take. Also used by scripts/gpu_check.py (with bigger dimensions).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIALS = ["<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]


def _corpus() -> Iterator[str]:
    for package in ("deployments", "routing", "serve_app", "tests"):
        for path in sorted((REPO / package).rglob("*.py")):
            yield path.read_text(errors="ignore")


def make_tiny_llama(
    out: Path,
    *,
    seed: int = 0,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 2,
    max_positions: int = 4096,
) -> Path:
    """Write a Hugging Face Llama checkpoint (config, safetensors, tokenizer) into `out`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)

    head_dim = hidden_size // heads
    assert head_dim >= 32, "vLLM's CPU attention needs head_dim >= 32"
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=head_dim,
        max_position_embeddings=max_positions,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(out, safe_serialization=True)
    return out


if __name__ == "__main__":
    import sys

    print(make_tiny_llama(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tiny-llama")))
