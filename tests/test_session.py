"""The native MTP session: output equals plain decoding, and its errors and statistics."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from llamamtp import Batch, ClosedError, Context, ContextFullError, Model, Sampler, Session
from llamamtp.synthetic import TINY_SHAPES, read_oracle

# Small context and batch sizes so one generation crosses several ubatches and
# ends by filling the context. One thread: tiny models gain nothing from more,
# and spinning worker threads slow down badly when other processes share the cores.
N_CTX = 256
N_BATCH = 32
N_UBATCH = 16
MODEL_KINDS = ["qwen35", "qwen35moe", "qwen3next", "oracle-0.5", "oracle-0.75"]
PROMPT_TEXT = "The quick brown fox jumps over the lazy dog while the cat sleeps"
LONG_TEXT = " ".join(["Speculative decoding drafts tokens and verifies them in one pass."] * 8)

_reference_cache: dict[tuple[str, str], list[int]] = {}


@pytest.fixture(scope="module")
def model_paths(tiny_model_paths: dict[str, Path], oracle_paths: dict[float, Path]):
    paths = dict(tiny_model_paths)
    for alpha, path in oracle_paths.items():
        paths[f"oracle-{alpha}"] = path
    return paths


@pytest.fixture(scope="module")
def models(model_paths: dict[str, Path]):
    loaded = {kind: Model(path, load_mtp=True) for kind, path in model_paths.items()}
    yield loaded
    for model in loaded.values():
        model.close()


def prompt_tokens(model: Model, prompt: str) -> list[int]:
    if prompt == "one":
        return model.vocab.tokenize("Hello")[:1]
    if prompt == "ordinary":
        return model.vocab.tokenize(PROMPT_TEXT)
    tokens = model.vocab.tokenize(LONG_TEXT)
    assert len(tokens) > N_BATCH
    return tokens


def generate(model: Model, tokens: list[int], n_draft: int, **options) -> list[int]:
    sampler = options.pop("sampler", None)
    max_tokens = options.pop("max_tokens", None)
    with Session(model, n_draft=n_draft, sampler=sampler, n_ctx=N_CTX, n_batch=N_BATCH,
                 n_ubatch=N_UBATCH, n_threads=1, **options) as session:  # fmt: skip
        return list(session.generate(tokens, max_tokens=max_tokens))


def reference(models: dict[str, Model], kind: str, prompt: str) -> list[int]:
    key = (kind, prompt)
    if key not in _reference_cache:
        model = models[kind]
        _reference_cache[key] = generate(model, prompt_tokens(model, prompt), n_draft=0)
    return _reference_cache[key]


def top_two_gap(model: Model, tokens: list[int]) -> float:
    """Gap between the two largest logits after ``tokens``, decoded one token at a time."""
    with Context(model, n_ctx=N_CTX, n_batch=N_BATCH, n_threads=1) as ctx:
        batch = Batch(1)
        for pos, token in enumerate(tokens):
            batch.set_tokens([token], pos)
            ctx.decode(batch)
        top = np.sort(ctx.logits())[-2:]
        return float(top[1] - top[0])


def assert_same_tokens(model: Model, prompt: list[int], expected: list[int], actual: list[int]):
    if actual == expected:
        return
    position = next(
        (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )
    gap = top_two_gap(model, prompt + expected[:position])
    where = f"first difference at generated position {position} of {len(expected)}"
    # A gap this small can be flipped by the rounding differences between a
    # batched verify pass and a single-token pass: report it as a near-tie.
    if gap < 1e-3:
        pytest.xfail(f"near-tie: {where}, top-two logit gap {gap:.2e}")
    pytest.fail(f"MTP output differs from plain decoding: {where}, top-two logit gap {gap:.3f}")


@pytest.mark.parametrize("prompt", ["one", "ordinary", "long"])
@pytest.mark.parametrize("n_draft", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_greedy_equals_plain(models, kind: str, n_draft: int, prompt: str) -> None:
    model = models[kind]
    tokens = prompt_tokens(model, prompt)
    expected = reference(models, kind, prompt)
    actual = generate(model, tokens, n_draft)
    assert len(expected) > 100, "the reference should run until the context is full"
    assert_same_tokens(model, tokens, expected, actual)


def test_generation_fills_context(models) -> None:
    model = models["qwen35"]
    tokens = prompt_tokens(model, "ordinary")
    with Session(model, n_draft=2, n_ctx=N_CTX, n_batch=N_BATCH, n_threads=1) as session:
        generated = list(session.generate(tokens, max_tokens=None))
        assert session.finish_reason == "length"
        # Every position contains a token, and the last generated one needs no slot.
        assert session.n_past == session.n_ctx
        assert len(tokens) + len(generated) == session.n_ctx + 1
        with pytest.raises(ContextFullError, match="full"):
            session.step()


@pytest.mark.parametrize("kind", ["qwen35", "qwen35moe", "oracle-0.75"])
def test_plain_steps_between_drafted_steps(models, kind: str) -> None:
    # Single-token passes skip the recurrent snapshots, while drafted passes
    # must still write them: a stale rollback would change the output.
    model = models[kind]
    tokens = prompt_tokens(model, "ordinary")
    expected = reference(models, kind, "ordinary")[:60]
    depths = [3, 0, 0, 2, 0, 1, 3, 3, 0]
    actual: list[int] = []
    with _session(model, 3) as session:
        session.prefill(tokens)
        while len(actual) < len(expected):
            depth = depths[session.stats.n_steps % len(depths)]
            actual += session.step(n_draft=depth, max_tokens=len(expected) - len(actual))
        assert session.target.n_rs_seq == 3
    assert_same_tokens(model, tokens, expected, actual)


def test_max_tokens_is_exact(models) -> None:
    model = models["oracle-0.75"]
    with Session(model, n_draft=4, n_ctx=N_CTX, n_threads=1) as session:
        generated = list(session.generate(prompt_tokens(model, "ordinary"), max_tokens=7))
        assert len(generated) == 7
        assert session.finish_reason == "length"


def expected_oracle_stats(path: Path, last: int, n_draft: int, n_tokens: int) -> tuple[int, int]:
    """Drafted and accepted counts of this session's loop on an oracle, computed from f and g."""
    oracle = read_oracle(path)
    drafted = accepted = produced = 0
    token = last
    while produced < n_tokens:
        draft = []
        guess = token
        for _ in range(min(n_draft, n_tokens - produced - 1)):
            guess = oracle.g(guess)
            draft.append(guess)
        n_ok = 0
        for guess in draft:
            if guess != oracle.f(token):
                break
            token = guess
            n_ok += 1
        token = oracle.f(token)
        drafted += len(draft)
        accepted += n_ok
        produced += n_ok + 1
    return drafted, accepted


@pytest.mark.parametrize("alpha", [0.5, 0.75])
@pytest.mark.parametrize("n_draft", [1, 3])
def test_oracle_acceptance(models, model_paths, alpha: float, n_draft: int) -> None:
    kind = f"oracle-{alpha}"
    model = models[kind]
    tokens = prompt_tokens(model, "ordinary")
    with Session(model, n_draft=n_draft, n_ctx=N_CTX, n_threads=1) as session:
        generated = list(session.generate(tokens, max_tokens=150))
        stats = session.stats
    oracle = read_oracle(model_paths[kind])
    assert generated[1:] == [oracle.f(t) for t in generated[:-1]]
    drafted, accepted = expected_oracle_stats(model_paths[kind], tokens[-1], n_draft, 150)
    assert stats.n_drafted == drafted
    assert stats.n_accepted == accepted
    assert stats.n_generated == 150
    if n_draft == 1:
        # One draft per step: the rate is alpha over the cycle tokens the walk visits.
        assert abs(stats.acceptance_rate - alpha) < 0.15


def test_rollback_keeps_prefill(models) -> None:
    # Drafts on the tiny random model are almost always rejected, so every step
    # rolls the recurrent state back; the prompt must never be decoded again.
    model = models["qwen35"]
    assert model.is_hybrid
    tokens = prompt_tokens(model, "ordinary")
    with Session(model, n_draft=3, n_ctx=N_CTX, n_threads=1) as session:
        list(session.generate(tokens, max_tokens=40))
        stats = session.stats
    assert stats.n_drafted > stats.n_accepted
    assert stats.n_prefill == len(tokens) - 1
    assert stats.n_steps >= 40 - stats.n_accepted


def test_stats_fields(models) -> None:
    model = models["oracle-0.75"]
    with Session(model, n_draft=2, n_ctx=N_CTX, n_threads=1) as session:
        list(session.generate(prompt_tokens(model, "ordinary"), max_tokens=30))
        stats = session.stats
        assert stats.n_generated == 30
        assert stats.n_steps < 30
        assert 0.0 < stats.acceptance_rate <= 1.0
        assert stats.mean_accepted_length == pytest.approx(stats.n_accepted / stats.n_steps)
        assert stats.tokens_per_step > 1.0
        for seconds in (stats.t_prefill, stats.t_draft, stats.t_verify, stats.t_catchup):
            assert seconds > 0.0
        session.reset_stats()
        assert session.stats.n_steps == 0


def test_plain_session_reports_no_drafts(models) -> None:
    model = models["qwen35"]
    with Session(model, n_draft=0, n_ctx=N_CTX, n_threads=1) as session:
        list(session.generate(prompt_tokens(model, "ordinary"), max_tokens=10))
        stats = session.stats
    assert stats.n_drafted == 0
    assert stats.tokens_per_step == 1.0
    assert stats.t_catchup == 0.0


def test_manual_draft_verify_matches_step(models) -> None:
    model = models["oracle-0.75"]
    tokens = prompt_tokens(model, "ordinary")
    expected = reference(models, "oracle-0.75", "ordinary")[:20]
    with Session(model, n_draft=3, n_ctx=N_CTX, n_threads=1) as session:
        session.prefill(tokens)
        generated: list[int] = []
        while len(generated) < 20:
            draft = session.draft()
            accepted = session.verify(draft)
            assert 1 <= len(accepted) <= len(draft) + 1
            assert accepted[:-1] == draft[: len(accepted) - 1]
            generated += accepted
    assert generated[:20] == expected


def test_verify_foreign_draft(models) -> None:
    # Any token list is a valid draft: the wrong ones are rejected.
    model = models["oracle-0.75"]
    tokens = prompt_tokens(model, "ordinary")
    expected = reference(models, "oracle-0.75", "ordinary")
    with Session(model, n_draft=3, n_ctx=N_CTX, n_threads=1) as session:
        session.prefill(tokens)
        assert session.verify([expected[0], 5, 6]) == expected[:2]
        assert session.verify(expected[2:5]) == expected[2:6]


def test_seeded_sampling_equals_plain(models) -> None:
    model = models["oracle-0.75"]
    tokens = prompt_tokens(model, "ordinary")

    def chain() -> Sampler:
        return Sampler().top_k(40).top_p(0.95).temp(1.5).dist(seed=1234)

    plain = generate(model, tokens, 0, sampler=chain(), max_tokens=80)
    for n_draft in (1, 3):
        assert generate(model, tokens, n_draft, sampler=chain(), max_tokens=80) == plain


def test_first_token_distribution(tmp_path: Path) -> None:
    """First sampled tokens follow the same distribution with and without MTP."""
    from llamamtp.synthetic import write_tiny

    # Logits of unit scale, so temperature-1 sampling spreads over many tokens.
    path = write_tiny(tmp_path / "soft.gguf", logit_scale=2.0)
    n_samples = 300
    with Model(path, load_mtp=True) as model:
        tokens = model.vocab.tokenize(PROMPT_TEXT)
        counts = {}
        for n_draft, seed in ((0, 1), (3, 2)):
            # One chain per mode: each sample call draws afresh from its random stream.
            with Session(model, n_draft=n_draft, sampler=Sampler().dist(seed), n_ctx=N_CTX,
                         n_threads=1) as session:  # fmt: skip
                counts[n_draft] = Counter()
                for _ in range(n_samples):
                    session.reset()
                    counts[n_draft].update(session.generate(tokens, max_tokens=1))
    # Compare the frequencies of the most common tokens. Each frequency has a
    # standard deviation of at most sqrt(0.25 / n_samples) ~ 0.029, so a
    # difference of two samples beyond 5 * sqrt(2) * that (0.2) fails by chance
    # with probability below 1e-6.
    tolerance = 5 * np.sqrt(2 * 0.25 / n_samples)
    for token, _ in counts[0].most_common(5):
        difference = abs(counts[0][token] - counts[3][token]) / n_samples
        assert difference < tolerance, f"token {token}: frequencies differ by {difference:.3f}"
    assert len(counts[0]) > 5, "the soft model should spread its samples over many tokens"


def test_no_mtp_block_rejected(tiny_llama_path: Path) -> None:
    with pytest.raises(ValueError, match="no NextN"):
        Session(tiny_llama_path, n_draft=2)


@pytest.mark.parametrize("n_draft", [-1, 17, 100])
def test_bad_n_draft(model_paths, n_draft: int) -> None:
    with pytest.raises(ValueError, match="n_draft must be between 0"):
        Session(model_paths["qwen35"], n_draft=n_draft)


@pytest.mark.parametrize(("n_draft", "n_ubatch"), [(1, 2), (3, 4), (4, 5)])
def test_ubatch_too_small_for_draft(models, n_draft: int, n_ubatch: int) -> None:
    # llama.cpp would abort the process on the first verify pass of a hybrid model.
    with pytest.raises(ValueError, match=f"at least {n_draft + 2}"):
        Session(models["qwen35"], n_draft=n_draft, n_batch=n_ubatch, n_ubatch=n_ubatch)
    with pytest.raises(ValueError, match=f"at least {n_draft + 2}"):
        Context(models["qwen35"], n_rs_seq=n_draft, n_batch=64, n_ubatch=n_ubatch)


def test_smallest_ubatch_for_draft_works(models) -> None:
    model = models["qwen35"]
    tokens = model.vocab.tokenize("The quick brown fox jumps over the lazy dog")
    with Session(model, n_draft=0, n_ctx=N_CTX, n_threads=1) as plain:
        expected = list(plain.generate(tokens, max_tokens=20))
    with Session(model, n_draft=2, n_ctx=N_CTX, n_batch=4, n_ubatch=4, n_threads=1) as session:
        assert list(session.generate(tokens, max_tokens=20)) == expected


def test_prompt_longer_than_context(models) -> None:
    model = models["qwen35"]
    with Session(model, n_draft=2, n_ctx=N_CTX, n_threads=1) as session:
        with pytest.raises(ValueError, match="does not fit in n_ctx"):
            session.prefill([100] * (N_CTX + 5))
        # The session is still usable.
        assert len(list(session.generate([100, 200], max_tokens=3))) == 3


def test_token_outside_vocabulary(models) -> None:
    model = models["qwen35"]
    with Session(model, n_draft=2, n_ctx=N_CTX, n_threads=1) as session:
        with pytest.raises(ValueError, match="outside the vocabulary"):
            session.prefill([1, model.n_vocab + 3])
        with pytest.raises(ValueError, match="outside the vocabulary"):
            session.prefill([-1])
        session.prefill([1, 2, 3])
        with pytest.raises(ValueError, match="outside the vocabulary"):
            session.verify([model.n_vocab])
        assert len(session.step()) >= 1


def test_step_before_prefill(models) -> None:
    with Session(models["qwen35"], n_draft=2, n_ctx=N_CTX, n_threads=1) as session:
        with pytest.raises(ValueError, match="prefill the session first"):
            session.step()


def test_draft_longer_than_session_allows(models) -> None:
    with Session(models["qwen35"], n_draft=2, n_ctx=N_CTX, n_threads=1) as session:
        session.prefill([1, 2, 3])
        with pytest.raises(ValueError, match="n_draft must be between 0 and"):
            session.draft(3)
        with pytest.raises(ValueError, match="n_draft must be between 0 and"):
            session.verify([1, 2, 3])


def test_calls_after_close(models) -> None:
    session = Session(models["qwen35"], n_draft=2, n_ctx=N_CTX, n_threads=1)
    session.close()
    with pytest.raises(ClosedError, match="session is closed"):
        session.step()
    session.close()


def test_session_owns_model_from_path(model_paths) -> None:
    session = Session(model_paths["qwen35"], n_draft=1, n_ctx=N_CTX, n_threads=1)
    model = session.model
    session.close()
    assert model.closed


def test_closing_model_closes_session(model_paths) -> None:
    model = Model(model_paths["qwen35"], load_mtp=True)
    session = Session(model, n_draft=1, n_ctx=N_CTX, n_threads=1)
    model.close()
    assert session.closed


def test_reset_then_same_output(models) -> None:
    model = models["oracle-0.5"]
    tokens = prompt_tokens(model, "ordinary")
    with Session(model, n_draft=3, n_ctx=N_CTX, n_threads=1) as session:
        first = list(session.generate(tokens, max_tokens=25))
        session.reset()
        assert session.n_past == 0
        assert session.pending is None
        assert list(session.generate(tokens, max_tokens=25)) == first


def test_prefill_continues_sequence(models) -> None:
    model = models["qwen35"]
    tokens = prompt_tokens(model, "ordinary")
    expected = reference(models, "qwen35", "ordinary")
    with Session(model, n_draft=2, n_ctx=N_CTX, n_threads=1) as session:
        # A prompt given in two parts decodes like the whole prompt.
        session.prefill(tokens[:5])
        session.prefill(tokens[5:])
        assert list(session.generate(max_tokens=20)) == expected[:20]


def test_tokens_hold_whole_sequence(models) -> None:
    model = models["oracle-0.75"]
    tokens = prompt_tokens(model, "ordinary")
    with Session(model, n_draft=3, n_ctx=N_CTX, n_threads=1) as session:
        generated = list(session.generate(tokens, max_tokens=12))
        assert session.tokens == tokens + generated
        assert session.n_past == len(tokens) + len(generated) - 1


@pytest.mark.parametrize("kind", ["qwen35", "qwen3next"])
def test_rewind_after_prefill(models, kind: str) -> None:
    model = models[kind]
    tokens = prompt_tokens(model, "ordinary")
    expected = generate(model, tokens[:-2], 0, max_tokens=10)
    with Session(model, n_draft=3, n_ctx=N_CTX, n_threads=1) as session:
        session.prefill(tokens)
        if kind == "qwen3next":
            # No recurrent snapshots in llama.cpp for this architecture.
            assert not session.rewind(len(tokens) - 2)
            return
        # The prompt's last positions are within the snapshots of its last ubatch.
        assert session.rewind(len(tokens) - 2)
        assert session.tokens == tokens[:-2]
        assert list(session.generate(max_tokens=10)) == expected


def test_rewind_attention_model(tiny_llama_path: Path) -> None:
    with Model(tiny_llama_path) as model:
        tokens = model.vocab.tokenize(PROMPT_TEXT)
        with Session(model, n_draft=0, n_ctx=N_CTX, n_threads=1) as session:
            first = list(session.generate(tokens, max_tokens=20))
            # Attention memory can drop any suffix: back to the middle of the prompt.
            assert session.rewind(5)
            assert session.tokens == tokens[:5]
            session.prefill(tokens[5:])
            assert list(session.generate(max_tokens=20)) == first


def test_rewind_too_far_on_recurrent_model(models) -> None:
    model = models["qwen35"]
    tokens = prompt_tokens(model, "ordinary")
    with Session(model, n_draft=2, n_ctx=N_CTX, n_threads=1) as session:
        list(session.generate(tokens, max_tokens=20))
        before = session.tokens
        assert not session.rewind(3)
        assert session.tokens == before
        with pytest.raises(ValueError, match="n_keep must be in"):
            session.rewind(len(before) + 1)


def _session(model: Model, n_draft: int) -> Session:
    return Session(model, n_draft=n_draft, n_ctx=N_CTX, n_batch=N_BATCH, n_ubatch=N_UBATCH,
                   n_threads=1)  # fmt: skip


def _prefill_with_checkpoints(session: Session, tokens: list[int], n_pasts: list[int]) -> None:
    """Prefill tokens, saving a checkpoint once each n_past in n_pasts is decoded."""
    position = 0
    for n_past in n_pasts:
        session.prefill(tokens[position : n_past + 1])
        session.save_checkpoint(4)
        position = n_past + 1
    session.prefill(tokens[position:])


@pytest.mark.parametrize("kind", ["qwen35", "qwen3next", "oracle-0.75"])
def test_checkpoint_resumes_prompt(models, kind: str) -> None:
    model = models[kind]
    tokens = prompt_tokens(model, "long")
    expected = generate(model, tokens, 3, max_tokens=16)
    with _session(model, 3) as session:
        _prefill_with_checkpoints(session, tokens, [N_UBATCH])
        list(session.generate(max_tokens=16))
        session.load_checkpoint(N_UBATCH, tokens[N_UBATCH])
        assert session.tokens == tokens[: N_UBATCH + 1]
        assert session.n_past == N_UBATCH
        session.prefill(tokens[N_UBATCH + 1 :])
        assert list(session.generate(max_tokens=16)) == expected


def test_checkpoint_with_other_next_token(models) -> None:
    model = models["qwen35"]
    tokens = prompt_tokens(model, "long")
    # Departs from tokens right at the checkpoint's position.
    other = tokens[:N_UBATCH] + tokens[N_UBATCH + 5 :]
    expected = generate(model, other, 0, max_tokens=16)
    with _session(model, 0) as session:
        _prefill_with_checkpoints(session, tokens, [N_UBATCH])
        session.load_checkpoint(N_UBATCH, other[N_UBATCH])
        session.prefill(other[N_UBATCH + 1 :])
        assert list(session.generate(max_tokens=16)) == expected


def test_loading_checkpoint_drops_later_ones(models) -> None:
    model = models["qwen35"]
    tokens = prompt_tokens(model, "long")
    with _session(model, 3) as session:
        _prefill_with_checkpoints(session, tokens, [N_UBATCH, 2 * N_UBATCH])
        assert [c.n_past for c in session.checkpoints] == [N_UBATCH, 2 * N_UBATCH]
        session.load_checkpoint(N_UBATCH, tokens[N_UBATCH])
        assert [c.n_past for c in session.checkpoints] == [N_UBATCH]
        with pytest.raises(ValueError, match="no checkpoint at n_past=32"):
            session.load_checkpoint(2 * N_UBATCH, tokens[2 * N_UBATCH])
        session.reset()
        assert session.checkpoints == []


def test_checkpoints_keep_newest(models) -> None:
    model = models["qwen35"]
    tokens = prompt_tokens(model, "long")
    with _session(model, 0) as session:
        for n_past in (8, 16, 24):
            session.prefill(tokens[len(session.tokens) : n_past + 1])
            session.save_checkpoint(2)
        session.save_checkpoint(2)  # the same n_past again replaces it
        assert [c.n_past for c in session.checkpoints] == [16, 24]


def test_checkpoint_size_is_recurrent_state(models) -> None:
    shape = TINY_SHAPES["qwen35"]
    conv = (shape.ssm_d_conv - 1) * (shape.ssm_d_inner + 2 * shape.ssm_n_group * shape.ssm_d_state)
    recurrent = shape.ssm_d_state * shape.ssm_d_inner
    n_layers = sum(shape.is_recurrent(il) for il in range(shape.n_layer))
    # F32 states of the Gated DeltaNet layers plus the MTP input row.
    expected = 4 * (n_layers * (conv + recurrent) + shape.n_embd)
    with _session(models["qwen35"], 3) as session:
        session.prefill(prompt_tokens(session.model, "ordinary"))
        session.save_checkpoint(1)
        (checkpoint,) = session.checkpoints
    # llama.cpp adds a header of a few dozen bytes (cell and layer counts, row sizes).
    assert expected <= checkpoint.size < expected + 256


def test_checkpoint_errors(models, tiny_llama_path: Path) -> None:
    with _session(models["qwen35"], 0) as session:
        with pytest.raises(ValueError, match="prefill the session before"):
            session.save_checkpoint(4)
        session.prefill(prompt_tokens(session.model, "ordinary"))
        with pytest.raises(ValueError, match="n_max must be at least 1"):
            session.save_checkpoint(0)
        with pytest.raises(ValueError, match="no checkpoint at n_past=3"):
            session.load_checkpoint(3, 0)
    with Model(tiny_llama_path) as model, _session(model, 0) as session:
        session.prefill(model.vocab.tokenize(PROMPT_TEXT))
        with pytest.raises(ValueError, match="no recurrent layers"):
            session.save_checkpoint(4)


def test_kept_logits_pick_tokens(models) -> None:
    model = models["oracle-0.75"]
    with Session(model, n_draft=3, n_ctx=N_CTX, n_threads=1) as session:
        session.set_keep_logits(True)
        session.prefill(prompt_tokens(model, "ordinary"))
        returned = session.step()
        for i, token in enumerate(returned):
            assert int(np.argmax(session.logits(i))) == token
        with pytest.raises(ValueError, match="no logits"):
            session.logits(len(returned))
