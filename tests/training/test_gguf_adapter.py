"""peft LoRA -> GGUF LoRA: names, metadata and values as llama.cpp reads them; then real Gemma."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from training.errors import TrainingFailed
from training.gguf_adapter import RANK_KEY, SOURCE_SHA256_KEY, convert_adapter
from training.lora import TrainConfig, train_lora
from training.tiny import make_tiny_gemma

EXAMPLES = [
    {"messages": [
        {"role": "user", "content": "How do I deploy the service?"},
        {"role": "assistant", "content": "Run make deploy from the repository root."},
    ]},
    {"messages": [
        {"role": "user", "content": "What is the staging cluster called?"},
        {"role": "assistant", "content": "The staging cluster is called zephyr."},
    ]},
    {"messages": [
        {"role": "user", "content": "Which test runner do we use?"},
        {"role": "assistant", "content": "The tests run with pytest."},
    ]},
]  # fmt: skip
MODULES = ("attn_q", "attn_k", "attn_v", "attn_output")
PEFT_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tiny base dir, its 2-step LoRA adapter dir)."""
    root = tmp_path_factory.mktemp("tiny")
    base = make_tiny_gemma(root / "base")
    config = TrainConfig(max_steps=2, batch_size=2, max_length=64)
    result = train_lora(base, EXAMPLES, root / "run", config)
    return base, result.adapter_dir


def _string(reader: gguf.GGUFReader, key: str) -> str:
    field = reader.fields[key]
    return bytes(field.parts[field.data[0]]).decode()


def _number(reader: gguf.GGUFReader, key: str) -> float:
    field = reader.fields[key]
    return float(field.parts[field.data[0]][0])


def test_the_tiny_adapter_converts_with_llama_cpp_names_metadata_and_values(
    tiny_adapter: tuple[Path, Path], tmp_path: Path
) -> None:
    base, adapter_dir = tiny_adapter
    out = tmp_path / "adapter.gguf"
    assert convert_adapter(adapter_dir, out, base_dir=base) == out  # timed: `buddy bench training`
    assert not out.with_name("adapter.gguf.partial").exists()

    reader = gguf.GGUFReader(out)
    assert _string(reader, "general.type") == "adapter"
    assert _string(reader, "general.architecture") == "gemma3"
    assert _string(reader, "adapter.type") == "lora"
    assert _number(reader, "adapter.lora.alpha") == 16.0  # TrainConfig's default alpha
    assert _number(reader, RANK_KEY) == 8
    assert len(_string(reader, SOURCE_SHA256_KEY)) == 64

    peft = load_file(str(adapter_dir / "adapter_model.safetensors"))
    tensors = {t.name: t for t in reader.tensors}
    expected = {
        f"blk.{layer}.{module}.weight.lora_{half}"
        for layer in range(2) for module in MODULES for half in "ab"
    }  # fmt: skip
    assert set(tensors) == expected
    for layer in range(2):
        for module, peft_module in zip(MODULES, PEFT_MODULES, strict=True):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{peft_module}"
            lora_a, lora_b = peft[f"{prefix}.lora_A.weight"], peft[f"{prefix}.lora_B.weight"]
            a = tensors[f"blk.{layer}.{module}.weight.lora_a"]
            b = tensors[f"blk.{layer}.{module}.weight.lora_b"]
            # ggml order (ne) is torch's reversed: A is [in, rank], B is [rank, out], and the
            # values are peft's own, untransposed, as llama.cpp's convert_lora_to_gguf writes them.
            assert list(a.shape) == [lora_a.shape[1], 8]
            assert list(b.shape) == [8, lora_b.shape[0]]
            assert a.tensor_type == gguf.GGMLQuantizationType.F32
            np.testing.assert_array_equal(a.data, lora_a.numpy())
            np.testing.assert_array_equal(b.data, lora_b.numpy())
    # The 2 steps moved lora_B off its zero initialisation, so the adapter does something.
    assert any(np.abs(t.data).max() > 0 for name, t in tensors.items() if name.endswith("lora_b"))


def test_conversion_without_the_base_dir_gives_the_same_file(
    tiny_adapter: tuple[Path, Path], tmp_path: Path
) -> None:
    base, adapter_dir = tiny_adapter
    with_base = convert_adapter(adapter_dir, tmp_path / "a.gguf", base_dir=base)
    without = convert_adapter(adapter_dir, tmp_path / "b.gguf")
    assert with_base.read_bytes() == without.read_bytes()


def _copy_adapter(adapter_dir: Path, target: Path, renames: dict[str, str]) -> Path:
    """A copy of the adapter with some tensors renamed."""
    target.mkdir()
    (target / "adapter_config.json").write_text((adapter_dir / "adapter_config.json").read_text())
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    for old, new in renames.items():
        tensors[new] = tensors.pop(old)
    save_file(tensors, str(target / "adapter_model.safetensors"))
    return target


def test_unknown_tensors_and_bad_input_fail_clearly_and_keep_the_previous_file(
    tiny_adapter: tuple[Path, Path], tmp_path: Path
) -> None:
    _, adapter_dir = tiny_adapter
    out = tmp_path / "adapter.gguf"
    out.write_bytes(b"previous")

    a_name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    b_name = a_name.replace("lora_A", "lora_B")
    renames = {name: name.replace("q_proj", "zz_proj") for name in (a_name, b_name)}
    renamed = _copy_adapter(adapter_dir, tmp_path / "renamed", renames)
    with pytest.raises(TrainingFailed, match=r"zz_proj.*no gemma3 GGUF name"):
        convert_adapter(renamed, out)

    stray = _copy_adapter(
        adapter_dir, tmp_path / "stray", {a_name: "base_model.model.lm_head.modules_to_save.weight"}
    )
    with pytest.raises(TrainingFailed, match="unexpected tensor"):
        convert_adapter(stray, out)
    half = _copy_adapter(adapter_dir, tmp_path / "half", {b_name: b_name.replace(".0.", ".5.")})
    with pytest.raises(TrainingFailed, match="without both LoRA halves"):
        convert_adapter(half, out)

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    (stray / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(TrainingFailed, match="DoRA"):
        convert_adapter(stray, out)

    with pytest.raises(TrainingFailed, match="cannot read the adapter config"):
        convert_adapter(tmp_path / "missing", out)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "adapter_config.json").write_text(json.dumps(config))
    (garbage / "adapter_model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(TrainingFailed, match="cannot read the adapter weights"):
        convert_adapter(garbage, out)

    wrong_base = tmp_path / "wrong-base"
    wrong_base.mkdir()
    (wrong_base / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2})
    )
    with pytest.raises(TrainingFailed, match="LlamaForCausalLM"):
        convert_adapter(adapter_dir, out, base_dir=wrong_base)
    (wrong_base / "config.json").write_text(
        json.dumps({"architectures": ["Gemma3ForCausalLM"], "num_hidden_layers": 1})
    )
    with pytest.raises(TrainingFailed, match="base has 1 layers"):
        convert_adapter(adapter_dir, out, base_dir=wrong_base)

    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.glob("*.partial")] == []


@pytest.mark.slow
def test_a_few_steps_on_gemma_convert_validate_and_change_llama_cpp_greedy_output(
    gemma_gguf: Path, gemma_hf_base: Path, tmp_path: Path
) -> None:
    from adapters.llm.adapter_probe import validate_adapter
    from adapters.llm.llamacpp_model import LlamaCppModel
    from domain.language import ChatMessage, GenerationRequest, GenerationUsage

    question = "What is the codename of our staging cluster?"
    answer = "The staging cluster is codenamed purple-giraffe-42."
    example = {"messages": [{"role": "user", "content": question},
                            {"role": "assistant", "content": answer}]}  # fmt: skip
    # 1e-2 for 6 steps overshoots on some CPUs (greedy output empty); 5e-3 for 12 steps lands
    # the answer on every CPU tried, at about 30 s.
    config = TrainConfig(
        rank=4, alpha=8, max_steps=12, batch_size=1, max_length=64, learning_rate=5e-3, dropout=0.0
    )
    started = time.perf_counter()
    result = train_lora(gemma_hf_base, [example], tmp_path / "run", config)
    trained = time.perf_counter()
    gguf_path = convert_adapter(
        result.adapter_dir, tmp_path / "adapter.gguf", base_dir=gemma_hf_base
    )
    converted = time.perf_counter()
    asyncio.run(validate_adapter(gemma_gguf, gguf_path))
    validated = time.perf_counter()
    print(
        f"train {trained - started:.1f}s convert {converted - trained:.2f}s "
        f"validate {validated - converted:.1f}s loss {result.train_loss:.3f}"
    )

    request = GenerationRequest(
        (ChatMessage("user", f"Question: {question}\nAnswer:"),), max_tokens=12, temperature=0.0
    )

    async def greedy(model: LlamaCppModel) -> str:
        return "".join([piece async for piece in model.stream(request, GenerationUsage())])

    base_text = asyncio.run(greedy(LlamaCppModel(gemma_gguf, context_tokens=256)))
    adapted = LlamaCppModel(gemma_gguf, context_tokens=256, lora_path=gguf_path)
    adapted_text = asyncio.run(greedy(adapted))
    print(f"base: {base_text!r}\nadapted: {adapted_text!r}")
    assert adapted_text != base_text
    assert "purple" in adapted_text.lower()
    assert adapted.adapter_hash is not None
