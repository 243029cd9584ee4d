"""BUDDY_LLAMACPP_MODEL: a GGUF the team supplies instead of the embedded Gemma 3 270M. It is
checked before llama.cpp opens it, named by its stem and content hash, and served through its own
chat template when its metadata has one (the plain prompt otherwise)."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gguf
import numpy as np
import pytest

from adapters.llm import llamacpp_model
from adapters.llm.gguf_header import read_header
from adapters.llm.llamacpp_model import USER_LICENSE, LlamaCppModel, _ChatTemplate, user_model
from bot.operations.models import base_license, base_model
from bot.serve.model_serving import served_base
from bot.settings import Settings
from domain.errors import ConfigurationError
from domain.language import ChatMessage, GenerationRequest, GenerationUsage

NOBODY = 65534
REQUEST = GenerationRequest(
    (ChatMessage("system", "Answer briefly."), ChatMessage("user", "What is 2 + 2?")),
    max_tokens=8, temperature=0.0, stop=("\nQuestion:",),
)  # fmt: skip
# Gemma's turns, with the system text folded into the first user turn (as Gemma 3 IT's does).
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set first = messages[0]['content'] + '\\n\\n' %}{% set rest = messages[1:] %}"
    "{% else %}{% set first = '' %}{% set rest = messages %}{% endif %}"
    "{% for m in rest %}"
    "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "<start_of_turn>{{ role }}\n{{ (first if loop.first else '') + m['content'] | trim }}"
    "<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def settings(tmp_path: Path, **env: Any) -> Settings:
    return Settings(_env_file=None, BUDDY_DATA_DIR=tmp_path / "data", **env)  # type: ignore[call-arg]


def with_string(source: Path, target: Path, key: str, value: str) -> Path:
    """A copy of a GGUF with one more string in its metadata. The entry is padded to a multiple
    of the alignment (with a Jinja comment), so every tensor stays where it was."""
    data = source.read_bytes()
    alignment = int(read_header(source).metadata.get("general.alignment") or 32)

    def entry(text: str) -> bytes:
        name, encoded = key.encode(), text.encode()
        return (struct.pack("<Q", len(name)) + name + struct.pack("<I", 8)
                + struct.pack("<Q", len(encoded)) + encoded)  # fmt: skip

    pad = -len(entry(value)) % alignment
    if pad:
        pad += alignment if pad < 4 else 0
        value = "{#" + " " * (pad - 4) + "#}" + value
    (kv_count,) = struct.unpack_from("<Q", data, 16)
    target.write_bytes(data[:16] + struct.pack("<Q", kv_count + 1) + entry(value) + data[24:])
    return target


def tiny_gguf(path: Path, **strings: str) -> Path:
    """A small well-formed GGUF (not loadable as a model, but a valid file for the checks)."""
    writer = gguf.GGUFWriter(path, arch="llama")
    for key, value in strings.items():
        writer.add_string(key.replace("_", "."), value)
    writer.add_tensor("token_embd.weight", np.ones((64, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def user_files(gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real Gemma 3 270M (a base model: no chat template) under a name of the team's, and
    the same weights with a chat template in the metadata, as an instruction-tuned GGUF has."""
    root = tmp_path_factory.mktemp("user-models")
    plain = root / "team-base.gguf"
    shutil.copyfile(gemma_gguf, plain)
    chat = with_string(gemma_gguf, root / "team-chat.gguf", "tokenizer.chat_template",
                       CHAT_TEMPLATE)  # fmt: skip
    return {"plain": plain, "chat": chat}


def test_the_settings_read_the_model_and_embedder_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BUDDY_LLAMACPP_MODEL", raising=False)
    monkeypatch.delenv("BUDDY_EMBEDDER", raising=False)
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (default.llamacpp_model, default.embedder) == (None, None)
    monkeypatch.setenv("BUDDY_LLAMACPP_MODEL", str(tmp_path / "qwen.gguf"))
    monkeypatch.setenv("BUDDY_EMBEDDER", str(tmp_path / "bge-small"))
    configured = Settings(_env_file=None)  # type: ignore[call-arg]
    assert configured.llamacpp_model == tmp_path / "qwen.gguf"
    assert configured.embedder == tmp_path / "bge-small"
    monkeypatch.setenv("BUDDY_LLAMACPP_MODEL", "")  # set but empty: the embedded default
    monkeypatch.setenv("BUDDY_EMBEDDER", " ")
    empty = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (empty.llamacpp_model, empty.embedder) == (None, None)


def test_a_missing_or_broken_model_file_is_a_clear_error(tmp_path: Path) -> None:
    good = tiny_gguf(tmp_path / "good.gguf")
    not_gguf = tmp_path / "model.safetensors"
    not_gguf.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}" + bytes(100))
    bad_header = tmp_path / "bad-header.gguf"
    bad_header.write_bytes(good.read_bytes()[:40])
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(good.read_bytes()[:-100])
    adapter = tiny_gguf(tmp_path / "adapter.gguf", general_type="adapter")
    cases = {
        tmp_path / "nowhere.gguf": "does not exist",
        tmp_path: "is not a file",
        not_gguf: "is not a GGUF file",
        bad_header: "is corrupt",
        truncated: "is truncated",
        adapter: "is a LoRA adapter",
    }
    for path, reason in cases.items():
        with pytest.raises(ConfigurationError) as caught:
            served_base(settings(tmp_path, BUDDY_LLAMACPP_MODEL=path))
        message = str(caught.value)
        assert message.startswith("BUDDY_LLAMACPP_MODEL: "), message
        assert str(path) in message, message
        assert reason in message, message
    assert served_base(settings(tmp_path, BUDDY_LLAMACPP_MODEL=good)).path == good


def unprivileged(work: Callable[[], str]) -> str:
    """`work()` in a forked child dropped to nobody (root reads a file whatever its mode)."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write_end, work().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        said = pipe.read()
    os.waitpid(child, 0)
    return said


def test_an_unreadable_model_file_is_a_clear_error(tmp_path: Path) -> None:
    # Outside the test's private temp dir, so that nobody can reach the file (and not read it).
    folder = Path(tempfile.mkdtemp(prefix="buddy-unreadable-"))
    try:
        folder.chmod(0o711)
        locked = tiny_gguf(folder / "locked.gguf")
        locked.chmod(0)
        configured = settings(tmp_path, BUDDY_LLAMACPP_MODEL=locked)

        def attempt() -> str:
            try:
                served_base(configured)
            except ConfigurationError as error:
                return str(error)
            return "served"

        said = unprivileged(attempt) if os.geteuid() == 0 else attempt()
    finally:
        shutil.rmtree(folder)
    assert said.startswith(f"BUDDY_LLAMACPP_MODEL: cannot read the model file {locked}"), said
    assert "Permission denied" in said


def test_the_label_is_stem_and_hash_remembered_and_the_license_declared_or_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tiny_gguf(tmp_path / "my+model.Q4_K_M.gguf")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    first = user_model(path, tmp_path / "cache")
    assert first.label == f"my-model.Q4_K_M@{digest[:12]}"  # no `+`: that names an adapter
    assert first.license == USER_LICENSE == "unknown (user-supplied)"

    def no_hashing(_: Path) -> str:
        raise AssertionError("hashed again")

    monkeypatch.setattr(llamacpp_model, "file_sha256", no_hashing)
    assert user_model(path, tmp_path / "cache") == first  # remembered by path, size and mtime
    monkeypatch.undo()
    licensed = tiny_gguf(tmp_path / "licensed.gguf", general_license="apache-2.0")
    assert user_model(licensed, tmp_path / "cache").license == "apache-2.0"
    configured = settings(tmp_path, BUDDY_LLAMACPP_MODEL=licensed)
    assert (base_model(configured), base_license(configured)) == ("licensed", "apache-2.0")
    assert base_license(settings(tmp_path)) == "Gemma Terms of Use"


async def test_a_gguf_without_a_chat_template_gets_the_plain_prompt(
    user_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = served_base(settings(tmp_path, BUDDY_LLAMACPP_MODEL=user_files["plain"]))
    digest = hashlib.sha256(user_files["plain"].read_bytes()).hexdigest()
    model = LlamaCppModel(base.path, context_tokens=512, label=base.label)
    try:
        assert model.model_version == f"llamacpp:team-base@{digest[:12]}"
        assert not model.chat_format
        assert model.prompt_text(REQUEST) == "Answer briefly.\n\nWhat is 2 + 2?"
        chat_calls = _record(model, "create_chat_completion", monkeypatch)
        completion_calls = _record(model, "create_completion", monkeypatch)
        usage = GenerationUsage()
        assert "".join([piece async for piece in model.stream(REQUEST, usage)])
        assert (len(completion_calls), len(chat_calls)) == (1, 0)
        assert completion_calls[0][0][0] == "Answer briefly.\n\nWhat is 2 + 2?"
        assert 0 < usage.completion_tokens <= 8
    finally:
        model.close()


async def test_a_gguf_with_a_chat_template_is_served_through_it(
    user_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = served_base(settings(tmp_path, BUDDY_LLAMACPP_MODEL=user_files["chat"]))
    assert base.label.startswith("team-chat@")
    model = LlamaCppModel(base.path, context_tokens=512, label=base.label)
    try:
        assert model.model_version == f"llamacpp:{base.label}"
        assert model.chat_format
        prompt = model.prompt_text(REQUEST)
        assert prompt == (
            "<bos><start_of_turn>user\nAnswer briefly.\n\nWhat is 2 + 2?<end_of_turn>\n"
            "<start_of_turn>model\n"
        )
        chat_calls = _record(model, "create_chat_completion", monkeypatch)
        completion_calls = _record(model, "create_completion", monkeypatch)
        usage = GenerationUsage()
        _ = [piece async for piece in model.stream(REQUEST, usage)]
        [(_, kwargs)] = chat_calls
        assert kwargs["messages"] == [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is 2 + 2?"},
        ]
        assert kwargs["stop"] == ["\nQuestion:"]
        assert kwargs["stream"] is True
        assert len(completion_calls) == 1  # the chat completion runs on the rendered prompt
        tokens = model.engine.tokenize(prompt.encode(), add_bos=False, special=True)
        assert completion_calls[0][1]["prompt"] == tokens
        assert usage.prompt_tokens == len(tokens)
        assert usage.completion_tokens <= 8
    finally:
        model.close()


def test_a_template_that_refuses_a_system_message_gets_it_folded_into_the_user_turn() -> None:
    strict = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}"
        "[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    )
    fake = SimpleNamespace(
        token_eos=lambda: 1, token_bos=lambda: -1, chat_handler=None,
        detokenize=lambda tokens, special: b"</s>",
    )  # fmt: skip
    template = _ChatTemplate(fake, strict)
    assert fake.chat_handler is not None  # llama-cpp-python serves this very template
    assert template.messages(REQUEST) == [
        {"role": "user", "content": "Answer briefly.\n\nWhat is 2 + 2?"}
    ]
    assert template.render(REQUEST) == "[user] Answer briefly.\n\nWhat is 2 + 2?\n"


def _record(
    model: LlamaCppModel, method: str, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Calls of one of the engine's methods, which still runs."""
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    original = getattr(model.engine, method)

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(model.engine, method, recording)
    return calls
