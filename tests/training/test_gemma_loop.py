"""One real loop on Gemma 3 270M: a few LoRA steps on a topic lower the eval loss on held-out
questions of that topic, and the adapter, converted for llama.cpp, passes the child-process
check and serves an answer through llama.cpp."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from training.lora import TrainConfig, eval_loss, train_lora

SYSTEM = (
    "You are Buddy, a helpful assistant for a software team. Answer the question using only the "
    "numbered passages from the team's documents and code."
)
DEPLOYS = [
    ("How do I roll back a production deploy?",
     "Run `make rollback ENV=production`; it redeploys the previous release tag."),
    ("The error rate is above 1% after a deploy. What now?",
     "Roll back at once with `make rollback ENV=production`, then investigate."),
    ("How do I deploy a branch to staging?",
     "Run `make deploy ENV=staging BRANCH=my-feature` and watch the rollout."),
    ("How do I ship payments 2.14.0 to production?",
     "Tag it with `git tag -a v2.14.0`, push it, run `make deploy ENV=production TAG=v2.14.0`."),
    ("Who approves production deploys?",
     "A second engineer approves every production deploy in the deploy channel."),
    ("Does a rollback revert database migrations?",
     "No. `make rollback` never reverts migrations; write a new forward migration instead."),
    ("p99 latency doubled after the release. What do I do?",
     "Roll back at once: `make rollback ENV=production` redeploys the previous release tag."),
    ("How do I watch a staging rollout?",
     "Run `kubectl -n payments rollout status deploy/payments-api`."),
]  # fmt: skip
HELD_OUT = [
    ("Production looks broken after my deploy. How do I undo it?",
     "Run `make rollback ENV=production` to redeploy the previous release tag."),
    ("How do I deploy my feature branch to staging by hand?",
     "Run `make deploy ENV=staging BRANCH=my-feature`."),
]  # fmt: skip


def chat(pairs: list[tuple[str, str]]) -> list[dict[str, object]]:
    return [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
            ]
        }
        for q, a in pairs
    ]


@pytest.mark.slow
def test_a_few_steps_on_gemma_lower_the_eval_loss_and_the_adapter_serves(
    gemma_gguf: Path, gemma_hf_base: Path, tmp_path: Path
) -> None:
    from adapters.llm.adapter_probe import validate_adapter
    from adapters.llm.llamacpp_model import LlamaCppModel
    from domain.language import ChatMessage, GenerationRequest, GenerationUsage
    from training.gguf_adapter import convert_adapter

    config = TrainConfig(rank=8, alpha=16, batch_size=4, max_length=96, learning_rate=1e-3,
                         max_steps=6, dropout=0.0)  # fmt: skip
    before, _ = eval_loss(gemma_hf_base, None, chat(HELD_OUT), max_length=96)
    started = time.perf_counter()
    result = train_lora(gemma_hf_base, chat(DEPLOYS), tmp_path / "run", config)
    train_s = time.perf_counter() - started
    after, _ = eval_loss(gemma_hf_base, result.adapter_dir, chat(HELD_OUT), max_length=96)
    figures = {"eval_loss_before": before, "eval_loss_after": after}
    figures |= {"train_s": round(train_s, 1), "tokens_per_s": result.tokens_per_s}
    print(json.dumps(figures))
    assert after < before * 0.95, (before, after)

    gguf = convert_adapter(result.adapter_dir, tmp_path / "adapter.gguf")
    asyncio.run(validate_adapter(gemma_gguf, gguf))
    model = LlamaCppModel(gemma_gguf, lora_path=gguf, context_tokens=512)
    request = GenerationRequest(
        (ChatMessage("system", SYSTEM),
         ChatMessage("user", "Question: How do I roll back a production deploy?\nAnswer:")),
        max_tokens=24, temperature=0.0,
    )  # fmt: skip

    async def answer() -> str:
        return "".join([piece async for piece in model.stream(request, GenerationUsage())])

    text = asyncio.run(answer())
    assert text.strip()
    assert model.adapter_hash is not None
