"""Bad input raises a Python exception that names the problem; the process survives."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from llamamtp import Batch, ClosedError, Context, ContextFullError, Model, Sampler


def write_bytes(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_missing_file_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        Model(missing)


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match=str(tmp_path.name)):
        Model(tmp_path)


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a GGUF file"):
        Model(write_bytes(tmp_path, "empty.gguf", b""))


def test_random_bytes_are_rejected(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).bytes(4096)
    with pytest.raises(ValueError, match="not a GGUF file"):
        Model(write_bytes(tmp_path, "noise.gguf", noise))


def test_gguf_magic_then_garbage(tmp_path: Path) -> None:
    # Gets past our magic check, so llama.cpp's own parser must refuse it.
    garbage = b"GGUF" + np.random.default_rng(2).bytes(4096)
    with pytest.raises(ValueError, match="llama_model_load_from_file failed"):
        Model(write_bytes(tmp_path, "garbage.gguf", garbage))


def test_truncated_tensor_data(tmp_path: Path, tiny_llama_path: Path) -> None:
    data = tiny_llama_path.read_bytes()
    # Cut inside the last tensor (output.weight, 32000 x 32 floats).
    truncated = write_bytes(tmp_path, "truncated.gguf", data[: len(data) - 100_000])
    with pytest.raises(ValueError, match="not within the file bounds"):
        Model(truncated)


def test_truncated_header(tmp_path: Path, tiny_llama_path: Path) -> None:
    truncated = write_bytes(tmp_path, "header.gguf", tiny_llama_path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="llama_model_load_from_file failed"):
        Model(truncated)


def test_good_model_loads_after_failures(tmp_path: Path, tiny_llama_path: Path) -> None:
    with pytest.raises(ValueError):
        Model(write_bytes(tmp_path, "bad.gguf", b"GGUF" + bytes(100)))
    with Model(tiny_llama_path) as model:
        assert model.n_vocab == 32000


@pytest.fixture
def context(tiny_llama_path: Path):
    with Model(tiny_llama_path) as model:
        with Context(model, n_ctx=64, n_batch=16, n_threads=1) as ctx:
            yield ctx


def test_token_outside_vocab_in_decode(context: Context) -> None:
    batch = Batch(4)
    batch.set_tokens([1, 32000], 0)
    with pytest.raises(ValueError, match="token id 32000 at batch index 1"):
        context.decode(batch)


def test_negative_token_in_detokenize(context: Context) -> None:
    with pytest.raises(ValueError, match="token id -5 at position 1"):
        context.model.vocab.detokenize([1, -5])


def test_token_to_piece_outside_vocab(context: Context) -> None:
    with pytest.raises(ValueError, match="token id 99999"):
        context.model.vocab.token_to_piece(99999)


def test_batch_larger_than_n_batch(context: Context) -> None:
    batch = Batch(32)
    batch.set_tokens(list(range(1, 21)), 0)
    with pytest.raises(ValueError, match="exceeds this context's n_batch=16"):
        context.decode(batch)


def test_batch_overflow(context: Context) -> None:
    batch = Batch(2)
    with pytest.raises(ValueError, match="capacity 2"):
        batch.set_tokens([1, 2, 3], 0)


def test_empty_batch(context: Context) -> None:
    with pytest.raises(ValueError, match="empty batch"):
        context.decode(Batch(4))


def test_logits_for_row_without_output(context: Context) -> None:
    batch = Batch(4)
    batch.set_tokens([1, 2, 3], 0)
    context.decode(batch)
    with pytest.raises(ValueError, match="no logits for output index 5"):
        context.logits(5)


def test_sampler_without_final_step(context: Context) -> None:
    batch = Batch(4)
    batch.set_tokens([1, 2], 0)
    context.decode(batch)
    with pytest.raises(ValueError, match="selected no token"):
        Sampler().top_k(5).sample(context)


def test_sample_before_any_decode(context: Context) -> None:
    with pytest.raises(ValueError, match="no logits"):
        Sampler().greedy().sample(context)


def test_invalid_grammar(context: Context) -> None:
    with pytest.raises(ValueError, match="invalid GBNF grammar"):
        Sampler().grammar(context.model.vocab, "root ::= (")


def test_invalid_grammar_reason_not_stderr(context: Context, capfd: pytest.CaptureFixture) -> None:
    # llama.cpp's parser prints the reason to stderr. It belongs in the exception.
    with pytest.raises(ValueError, match="Undefined rule identifier 'missing'"):
        Sampler().grammar(context.model.vocab, "root ::= missing")
    assert "error parsing grammar" not in capfd.readouterr().err


def test_context_usable_after_errors(context: Context) -> None:
    batch = Batch(4)
    batch.set_tokens([1, 32000], 0)
    with pytest.raises(ValueError):
        context.decode(batch)
    batch.set_tokens([1, 2], 0)
    context.decode(batch)
    assert context.seq_pos_max() == 1


def test_context_full(tiny_llama_path: Path) -> None:
    with Model(tiny_llama_path) as model, Context(model, n_ctx=64, n_batch=64) as ctx:
        n_ctx = ctx.n_ctx  # llama.cpp may round the requested size up
        batch = Batch(64)
        for pos0 in range(0, n_ctx, 64):
            batch.set_tokens([7] * min(64, n_ctx - pos0), pos0)
            ctx.decode(batch)
        batch.set_tokens([5], n_ctx)
        with pytest.raises(ContextFullError, match=f"n_ctx={n_ctx}"):
            ctx.decode(batch)


def test_use_after_close(tiny_llama_path: Path) -> None:
    model = Model(tiny_llama_path)
    ctx = Context(model, n_ctx=32)
    model.close()
    # Closing the model closes the context made from it first.
    assert ctx.closed
    with pytest.raises(ClosedError, match="context is closed"):
        ctx.logits()
    with pytest.raises(ClosedError, match="model is closed"):
        model.vocab.tokenize("hello")
    model.close()


def test_bad_context_parameters(tiny_llama_path: Path) -> None:
    with Model(tiny_llama_path) as model:
        with pytest.raises(ValueError, match="n_ctx must be at least 1"):
            Context(model, n_ctx=0)
        with pytest.raises(ValueError, match="ctx_type"):
            Context(model, ctx_type="draft")
        with pytest.raises(ValueError, match="no NextN"):
            Context(model, ctx_type="mtp")


def test_session_file_missing(context: Context, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.bin"):
        context.state_load_file(tmp_path / "nothing.bin")


def test_session_file_garbage(context: Context, tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "garbage.bin", os.urandom(256))
    with pytest.raises(ValueError, match="llama_state_load_file failed"):
        context.state_load_file(path)
