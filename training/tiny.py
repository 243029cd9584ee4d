"""A tiny randomly initialised Gemma 3 and a tokenizer built offline, for fast tests and benches.

Same architecture classes as the real base (so peft targets the same module names and the GGUF
conversion sees the same layout), at a size that trains in well under a second per step on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY_VOCAB = 384
_CORPUS = [
    "Question: How do I deploy the service? Answer: Run make deploy from the repo root.",
    "The knowledge base says the build uses Python and the tests run with pytest.",
    "Answer the question from the passages. Passages: the staging cluster is called zephyr.",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,:;!?'\"()[]{}-_/\\=+*#@",
]


def make_tiny_gemma(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a 2-layer Gemma3ForCausalLM and its tokenizer into `out_dir`; returns `out_dir`."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _tiny_tokenizer()
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=1024,
        sliding_window=64,
        # Embeddings are tied to the output: the default 0.02 keeps every logit near zero, so
        # the model could never grow confident, and the tests could not see it learn.
        initializer_range=0.15,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _tiny_tokenizer() -> Any:
    """Byte-level BPE (any text encodes, nothing unknown) trained on a few strings: no network."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
        unk_token="<unk>",
    )  # fmt: skip
