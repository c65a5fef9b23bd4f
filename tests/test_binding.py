"""The binding on a real tiny model: load, decode, logits, memory, state, sampling, logging."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import llamamtp
from llamamtp import Batch, Context, Model, Sampler

from .conftest import TINY_N_EMBD, TINY_N_LAYER

PROMPT = "The quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def model(tiny_llama_path: Path):
    with Model(tiny_llama_path) as model:
        yield model


def decode_prompt(ctx: Context, tokens: list[int], logits_all: bool = False) -> None:
    batch = Batch(len(tokens))
    for pos, token in enumerate(tokens):
        batch.add(token, pos, (0,), logits_all or pos == len(tokens) - 1)
    ctx.decode(batch)


def test_version_and_build_facts() -> None:
    assert llamamtp.__version__
    assert llamamtp.llama_cpp_commit() == "0c1e570"
    assert "CPU" in llamamtp.backends()
    assert "CPU" in llamamtp.system_info()


def test_model_sizes(model: Model) -> None:
    assert model.n_vocab == 32000
    assert model.n_embd == TINY_N_EMBD
    assert model.n_layer == TINY_N_LAYER
    assert model.n_layer_nextn == 0
    assert model.ftype == "all F32"


def test_model_metadata(model: Model) -> None:
    metadata = model.metadata
    assert metadata["general.architecture"] == "llama"
    assert metadata["general.name"] == "tiny-llama"
    assert model.chat_template() is None


def test_decode_returns_logits_of_vocab_size(model: Model) -> None:
    with Context(model, n_ctx=128, n_threads=1) as ctx:
        tokens = model.vocab.tokenize(PROMPT)
        decode_prompt(ctx, tokens)
        logits = ctx.logits()
        assert logits.shape == (model.n_vocab,)
        assert logits.dtype == np.float32
        assert np.isfinite(logits).all()
        assert ctx.seq_pos_max() == len(tokens) - 1


def test_batched_and_incremental_decode_agree(model: Model) -> None:
    tokens = model.vocab.tokenize(PROMPT)
    with (
        Context(model, n_ctx=128, n_threads=1) as whole,
        Context(model, n_ctx=128, n_threads=1) as steps,
    ):
        decode_prompt(whole, tokens)
        batch = Batch(1)
        for pos, token in enumerate(tokens):
            batch.set_tokens([token], pos)
            steps.decode(batch)
        np.testing.assert_allclose(whole.logits(), steps.logits(), rtol=1e-4, atol=1e-4)


def test_logits_for_every_output_row(model: Model) -> None:
    tokens = model.vocab.tokenize(PROMPT)
    with Context(model, n_ctx=128, n_threads=1) as ctx:
        decode_prompt(ctx, tokens, logits_all=True)
        rows = [ctx.logits(i) for i in range(len(tokens))]
        assert not np.array_equal(rows[0], rows[-1])
        np.testing.assert_array_equal(rows[-1], ctx.logits(-1))


def test_seq_rm_then_redecode(model: Model) -> None:
    tokens = model.vocab.tokenize(PROMPT)
    with Context(model, n_ctx=128, n_threads=1) as ctx:
        decode_prompt(ctx, tokens)
        expected = ctx.logits()
        assert ctx.seq_rm(0, len(tokens) - 1, -1)
        assert ctx.seq_pos_max() == len(tokens) - 2
        batch = Batch(1)
        batch.set_tokens([tokens[-1]], len(tokens) - 1)
        ctx.decode(batch)
        np.testing.assert_allclose(ctx.logits(), expected, rtol=1e-4, atol=1e-4)


def test_memory_clear(model: Model) -> None:
    with Context(model, n_ctx=128, n_threads=1) as ctx:
        decode_prompt(ctx, model.vocab.tokenize(PROMPT))
        ctx.memory_clear()
        assert ctx.seq_pos_max() == -1


def test_state_round_trip(model: Model) -> None:
    tokens = model.vocab.tokenize(PROMPT)
    next_token = model.vocab.tokenize(" again", add_special=False)[0]
    with (
        Context(model, n_ctx=128, n_threads=1) as source,
        Context(model, n_ctx=128, n_threads=1) as target,
    ):
        decode_prompt(source, tokens)
        target.state_set(source.state_get())
        assert target.seq_pos_max() == len(tokens) - 1
        batch = Batch(1)
        batch.set_tokens([next_token], len(tokens))
        source.decode(batch)
        target.decode(batch)
        np.testing.assert_array_equal(source.logits(), target.logits())


def test_session_file_round_trip(model: Model, tmp_path: Path) -> None:
    tokens = model.vocab.tokenize(PROMPT)
    path = tmp_path / "session.bin"
    with (
        Context(model, n_ctx=128, n_threads=1) as source,
        Context(model, n_ctx=128, n_threads=1) as target,
    ):
        decode_prompt(source, tokens)
        source.state_save_file(path, tokens)
        assert target.state_load_file(path) == tokens
        assert target.seq_pos_max() == len(tokens) - 1


def test_greedy_sampler_picks_argmax(model: Model) -> None:
    with Context(model, n_ctx=128, n_threads=1) as ctx:
        decode_prompt(ctx, model.vocab.tokenize(PROMPT))
        assert Sampler().greedy().sample(ctx) == int(np.argmax(ctx.logits()))


def test_seeded_sampler_repeats(model: Model) -> None:
    with Context(model, n_ctx=128, n_threads=1) as ctx:
        decode_prompt(ctx, model.vocab.tokenize(PROMPT))
        first = [Sampler().top_k(50).temp(1.5).dist(seed=7).sample(ctx) for _ in range(3)]
        assert len(set(first)) == 1


def test_sampler_chain_names(model: Model) -> None:
    chain = Sampler().penalties(64, 1.1).top_k(40).top_p(0.9).min_p(0.05).temp(0.8).dist(1)
    assert chain.names == ["penalties", "top_k", "top_p", "min_p", "temp", "dist"]
    assert len(chain) == 6
    assert chain.seed == 1
    chain.close()


def test_grammar_constrains_tokens(model: Model) -> None:
    vocab = model.vocab
    tokens = vocab.tokenize(PROMPT)
    with Context(model, n_ctx=128, n_threads=1) as ctx:
        decode_prompt(ctx, tokens)
        chain = Sampler().grammar(vocab, 'root ::= "yes" | "no"').greedy()
        text = b""
        batch = Batch(1)
        for pos in range(len(tokens), len(tokens) + 4):
            token = chain.sample(ctx)
            if vocab.is_eog(token):
                break
            text += vocab.token_to_piece(token)
            batch.set_tokens([token], pos)
            ctx.decode(batch)
        assert text in (b"yes", b"no")


def test_logit_bias_forces_token(model: Model) -> None:
    with Context(model, n_ctx=128, n_threads=1) as ctx:
        decode_prompt(ctx, model.vocab.tokenize(PROMPT))
        chain = Sampler().logit_bias(model.n_vocab, {1234: 1000.0}).greedy()
        assert chain.sample(ctx) == 1234


def test_quantize_q8_0(tiny_llama_path: Path, tmp_path: Path) -> None:
    out = llamamtp.quantize(tiny_llama_path, tmp_path / "tiny-q8_0.gguf", "Q8_0", n_threads=1)
    with Model(out) as quantized:
        assert quantized.ftype == "Q8_0"
        assert quantized.size < tiny_llama_path.stat().st_size


def test_quantize_unknown_ftype(tiny_llama_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown ftype 'Q3'"):
        llamamtp.quantize(tiny_llama_path, tmp_path / "out.gguf", "Q3")


def test_verbose_routes_native_log(tiny_llama_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llamamtp")
    llamamtp.set_verbose(True)
    try:
        Model(tiny_llama_path).close()
    finally:
        llamamtp.set_verbose(False)
    native = [record for record in caplog.records if record.name == "llamamtp.llama_cpp"]
    assert any("llama_model_loader" in record.getMessage() for record in native)


def test_silent_by_default(tiny_llama_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="llamamtp")
    Model(tiny_llama_path).close()
    assert [record for record in caplog.records if record.name == "llamamtp.llama_cpp"] == []


def test_with_block_closes(tiny_llama_path: Path) -> None:
    with Model(tiny_llama_path) as model:
        with Context(model, n_ctx=32, n_threads=1) as ctx:
            pass
        assert ctx.closed
        assert not model.closed
    assert model.closed
