"""The fast GGUF header scan agrees with gguf's own reader and fails cleanly on broken files."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import gguf
import numpy as np
import pytest

from adapters.llm.gguf_header import read_header


@pytest.fixture
def small_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "small.gguf"
    writer = gguf.GGUFWriter(path, arch="gemma3")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 16.0)
    writer.add_uint32("test.count", 7)
    writer.add_bool("test.flag", True)
    writer.add_array("test.words", ["alpha", "", "βeta", "gamma"])
    writer.add_array("test.numbers", [1.5, 2.5, 3.5])
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.ones((4, 64), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.ones((128, 4), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_scan_matches_gguf_reader(small_gguf: Path) -> None:
    header = read_header(small_gguf)
    reader = gguf.GGUFReader(small_gguf)
    assert header.string("general.architecture") == "gemma3"
    assert header.string("general.type") == "adapter"
    assert header.metadata["adapter.lora.alpha"] == 16.0
    assert header.metadata["test.count"] == 7
    assert header.metadata["test.flag"] is True
    assert header.metadata["test.words"] is None  # arrays are skipped, not decoded
    assert header.metadata["test.numbers"] is None
    assert header.data_start == reader.data_offset
    assert header.file_size == small_gguf.stat().st_size
    for tensor in reader.tensors:
        info = header.tensors[tensor.name]
        assert info.dims == tuple(int(n) for n in tensor.shape)
        assert info.ggml_type == int(tensor.tensor_type)
        assert header.data_start + info.offset == tensor.data_offset
    assert header.tensors["blk.0.attn_q.weight.lora_a"].dims == (64, 4)  # ggml order


def test_every_truncation_of_the_header_is_a_value_error(small_gguf: Path, tmp_path: Path) -> None:
    data = small_gguf.read_bytes()
    header_end = read_header(small_gguf).data_start
    cut = tmp_path / "cut.gguf"
    for size in range(header_end - 31):  # the last up to 31 bytes are alignment padding
        cut.write_bytes(data[:size])
        with pytest.raises(ValueError):  # noqa: PT011 - the messages vary with the cut
            read_header(cut)


def test_corrupted_bytes_raise_value_error_or_parse(small_gguf: Path, tmp_path: Path) -> None:
    data = small_gguf.read_bytes()
    header_end = read_header(small_gguf).data_start
    broken = tmp_path / "broken.gguf"
    rng = random.Random(0)
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(4, header_end)] = rng.randrange(256)
        broken.write_bytes(bytes(mutated))
        with contextlib.suppress(ValueError):  # anything else escaping fails the test
            read_header(broken)


def test_not_a_gguf_file(tmp_path: Path) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(b"\x00GGU" + bytes(100))
    with pytest.raises(ValueError, match="bad magic"):
        read_header(path)
    path.write_bytes(b"GGUF")
    with pytest.raises(ValueError, match="too short"):
        read_header(path)
