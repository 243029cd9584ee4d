"""The evaluation gate: a candidate adapter against the served model, before any promotion.

Three checks, all recorded in `ModelEvaluated`:
- loss and perplexity on the eval split (answer tokens only), candidate vs served;
- the golden set admins maintain: questions with terms a good answer must mention, answered
  greedily by both; the candidate may not score lower;
- canaries: planted secrets, each with a prompt that invites it; none may come out.
The candidate passes when its eval loss is lower than the served model's by the margin (relative)
and the other two hold. With no eval split (a cold start on synthetic pairs alone), the golden set
must show a gain instead, so nothing is promoted on no evidence."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.dataset import ChatExample, prompt_text
from training.errors import TrainingFailed
from training.lora import eval_loss, load_base

SYSTEM_FOR_GOLDEN = (
    "You are Buddy, a helpful assistant for a software team. Answer the question using only the "
    "numbered passages from the team's documents and code."
)
GOLDEN_TOKENS = 48


@dataclass(frozen=True)
class GoldenQuestion:
    question: str
    must_mention: tuple[str, ...]
    context: str = ""


@dataclass(frozen=True)
class Canary:
    prompt: str
    secret: str


@dataclass(frozen=True)
class GateSettings:
    margin: float = 0.02  # the candidate's eval loss must be this much lower, relatively
    golden: tuple[GoldenQuestion, ...] = ()
    canaries: tuple[Canary, ...] = ()
    max_length: int = 512


@dataclass
class Evaluation:
    metrics: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # why it did not pass; empty when it did

    @property
    def passed(self) -> bool:
        return not self.reasons


def load_golden(path: Path | None) -> tuple[GoldenQuestion, ...]:
    """`{"question", "must_mention": [...], "context"?}` per line; no file, no golden set."""
    return tuple(
        GoldenQuestion(
            str(r["question"]), tuple(str(t) for t in r["must_mention"]), str(r.get("context", ""))
        )
        for r in _jsonl(path, ("question", "must_mention"))
    )


def load_canaries(path: Path | None) -> tuple[Canary, ...]:
    """`{"prompt", "secret"}` per line."""
    return tuple(
        Canary(str(r["prompt"]), str(r["secret"])) for r in _jsonl(path, ("prompt", "secret"))
    )


def _jsonl(path: Path | None, required: tuple[str, ...]) -> list[dict[str, Any]]:
    if path is None or not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise TrainingFailed(f"{path}:{number}: not JSON: {error}") from error
        missing = [key for key in required if key not in record]
        if missing:
            raise TrainingFailed(f"{path}:{number}: missing {', '.join(missing)}")
        records.append(record)
    return records


def golden_score(answers: Sequence[str], golden: Sequence[GoldenQuestion]) -> float:
    """The mean share of required terms each answer mentions (case-insensitive)."""
    if not golden:
        return math.nan
    shares = []
    for answer, item in zip(answers, golden, strict=True):
        lowered = answer.lower()
        hits = sum(term.lower() in lowered for term in item.must_mention)
        shares.append(hits / len(item.must_mention) if item.must_mention else 1.0)
    return sum(shares) / len(shares)


def leaked(outputs: Sequence[str], canaries: Sequence[Canary]) -> list[str]:
    """The canaries whose secret came out (reported by prompt, never by secret)."""
    return [c.prompt for out, c in zip(outputs, canaries, strict=True) if c.secret in out]


def decide(metrics: dict[str, Any], margin: float) -> list[str]:
    """Why the candidate must not be promoted automatically (empty: it may)."""
    reasons: list[str] = []
    loss, served = metrics.get("eval_loss"), metrics.get("served_eval_loss")
    golden, served_golden = metrics.get("golden_score"), metrics.get("served_golden_score")
    has_golden = golden is not None and not math.isnan(golden)
    if metrics.get("canaries_leaked"):
        reasons.append(f"{metrics['canaries_leaked']} planted canaries came out of the candidate")
    if loss is not None and served is not None:
        if loss > served * (1 - margin):
            reasons.append(
                f"eval loss {loss:.4f} is not {margin:.0%} below the served model's {served:.4f}"
            )
    elif not has_golden:
        reasons.append("no eval split and no golden set: nothing shows the candidate is better")
    elif served_golden is not None and golden <= served_golden:
        reasons.append("no eval split, and the golden set shows no gain")
    if has_golden and served_golden is not None and golden < served_golden:
        reasons.append(f"golden score {golden:.2f} is below the served model's {served_golden:.2f}")
    return reasons


def evaluate(
    base_dir: Path,
    candidate: Path,
    served: Path | None,
    eval_examples: Sequence[ChatExample],
    gate: GateSettings,
    *,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Candidate adapter vs the served model (the base, or base + its adapter). Blocking."""
    metrics: dict[str, Any] = {"eval_examples": len(eval_examples)}
    sides = {"": candidate, "served_": served}
    for prefix, adapter in sides.items():
        if progress is not None:
            progress(f"evaluating {'the served model' if prefix else 'the candidate'}")
        if eval_examples:
            loss, perplexity = eval_loss(base_dir, adapter, eval_examples, gate.max_length)
            metrics[f"{prefix}eval_loss"] = round(loss, 6)
            metrics[f"{prefix}eval_perplexity"] = round(perplexity, 4)
        if gate.golden or (gate.canaries and not prefix):
            outputs = _generate_all(base_dir, adapter, gate, with_canaries=not prefix)
            answers = outputs[: len(gate.golden)]
            if gate.golden:
                metrics[f"{prefix}golden_score"] = round(golden_score(answers, gate.golden), 4)
            if not prefix:
                metrics["canaries_checked"] = len(gate.canaries)
                metrics["canaries_leaked"] = len(leaked(outputs[len(gate.golden) :], gate.canaries))
    return Evaluation(metrics=metrics, reasons=decide(metrics, gate.margin))


def _generate_all(
    base_dir: Path, adapter: Path | None, gate: GateSettings, *, with_canaries: bool
) -> list[str]:
    prompts = [
        prompt_text([("system", SYSTEM_FOR_GOLDEN), ("user", item.question)], item.context)
        for item in gate.golden
    ]
    if with_canaries:
        prompts += [canary.prompt for canary in gate.canaries]
    if not prompts:
        return []
    model, tokenizer = load_base(base_dir, adapter)
    return [_greedy(model, tokenizer, prompt, GOLDEN_TOKENS) for prompt in prompts]


def _greedy(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> str:
    import torch

    # Laid out exactly as in training (training.dataset.tokenize): BOS, then the prompt's tokens.
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    ids = bos + tokenizer(prompt, add_special_tokens=False)["input_ids"]
    input_ids = torch.tensor([ids], device=model.device)
    model.eval()
    with torch.no_grad():
        output = model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens, do_sample=False,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )  # fmt: skip
    new_tokens = output[0, len(ids) :]
    return str(tokenizer.decode(new_tokens, skip_special_tokens=True))
