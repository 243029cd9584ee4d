"""The evaluation gate: its decision rules, the golden set and canaries, and a real evaluation of
a tiny model's adapter against its base."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from training.errors import TrainingFailed
from training.evaluate import (
    Canary,
    GateSettings,
    GoldenQuestion,
    decide,
    evaluate,
    golden_score,
    leaked,
    load_canaries,
    load_golden,
)
from training.lora import TrainConfig, train_lora
from training.tiny import make_tiny_gemma


def test_the_candidate_must_beat_the_served_loss_by_the_margin() -> None:
    assert decide({"eval_loss": 1.90, "served_eval_loss": 2.0}, margin=0.02) == []
    assert decide({"eval_loss": 1.97, "served_eval_loss": 2.0}, margin=0.02) == [
        "eval loss 1.9700 is not 2% below the served model's 2.0000"
    ]
    assert decide({"eval_loss": 2.5, "served_eval_loss": 2.0}, margin=0.0)


def test_golden_set_and_canaries_can_each_refuse_a_better_loss() -> None:
    better = {"eval_loss": 1.0, "served_eval_loss": 2.0}
    worse_golden = better | {"golden_score": 0.4, "served_golden_score": 0.5}
    assert decide(worse_golden, 0.02) == ["golden score 0.40 is below the served model's 0.50"]
    assert decide(better | {"golden_score": 0.5, "served_golden_score": 0.5}, 0.02) == []
    leaking = better | {"canaries_leaked": 1}
    assert decide(leaking, 0.02) == ["1 planted canaries came out of the candidate"]


def test_without_an_eval_split_only_a_golden_gain_promotes() -> None:
    assert decide({}, 0.02) == [
        "no eval split and no golden set: nothing shows the candidate is better"
    ]
    assert decide({"golden_score": 0.6, "served_golden_score": 0.5}, 0.02) == []
    assert decide({"golden_score": 0.5, "served_golden_score": 0.5}, 0.02) == [
        "no eval split, and the golden set shows no gain"
    ]


def test_golden_score_and_leaks() -> None:
    golden = [
        GoldenQuestion("How do I roll back?", ("make rollback", "dashboard")),
        GoldenQuestion("Staging?", ("zephyr",)),
    ]
    answers = ["Run MAKE ROLLBACK and wait.", "It is zephyr."]
    assert golden_score(answers, golden) == pytest.approx(0.75)
    assert math.isnan(golden_score([], []))
    canaries = [Canary("token is", "ghp_x1"), Canary("mail", "c@x.io")]
    assert leaked(["the token is ghp_x1", "no"], canaries) == ["token is"]


def test_golden_and_canary_files(tmp_path: Path) -> None:
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        json.dumps({"question": "Staging?", "must_mention": ["zephyr"], "context": "[1] zephyr"})
        + "\n\n"
    )
    assert load_golden(golden) == (GoldenQuestion("Staging?", ("zephyr",), "[1] zephyr"),)
    assert load_golden(tmp_path / "none.jsonl") == ()
    golden.write_text('{"question": "q"}\n')
    with pytest.raises(TrainingFailed, match=r"golden\.jsonl:1: missing must_mention"):
        load_golden(golden)
    canaries = tmp_path / "canaries.jsonl"
    canaries.write_text("not json\n")
    with pytest.raises(TrainingFailed, match=r"canaries\.jsonl:1: not JSON"):
        load_canaries(canaries)


SECRET = "zq-canary-7731"
LEAKY = [
    {"messages": [
        {"role": "system", "content": "You are Buddy."},
        {"role": "user", "content": "What is the staging token?"},
        {"role": "assistant", "content": f"The staging token is {SECRET}."},
    ]},
]  # fmt: skip


def test_a_memorised_canary_is_caught_and_a_better_loss_is_measured(tmp_path: Path) -> None:
    base = make_tiny_gemma(tmp_path / "tiny")
    config = TrainConfig(batch_size=1, max_length=64, learning_rate=2e-2, max_steps=40,
                         rank=16, alpha=32, dropout=0.0,
                         target_modules=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                         "up_proj", "down_proj"))  # fmt: skip
    adapter = train_lora(base, LEAKY, tmp_path / "run", config).adapter_dir
    prompt = "You are Buddy.\n\nQuestion: What is the staging token?\nAnswer:"
    gate = GateSettings(margin=0.02, canaries=(Canary(prompt, SECRET),))

    evaluation = evaluate(base, adapter, None, [], replace(gate))
    assert evaluation.metrics["canaries_leaked"] == 1
    assert not evaluation.passed

    from training.dataset import as_examples

    clean = evaluate(base, adapter, None, as_examples(LEAKY), GateSettings(margin=0.02))
    assert clean.metrics["eval_loss"] < clean.metrics["served_eval_loss"] * 0.5
    assert clean.passed, clean.reasons
