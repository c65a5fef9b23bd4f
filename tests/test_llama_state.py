"""Drop-in Llama state: prefix reuse, save/load, caches, pickling and from_pretrained."""

from __future__ import annotations

import pickle
import shutil
from itertools import islice
from pathlib import Path

import pytest

from llamamtp import Llama, LlamaDiskCache, LlamaRAMCache
from tests.llama_fixtures import N_UBATCH, OPTIONS, text_of

PROMPT = "The capital of France is"
# Long enough to span several ubatches of N_UBATCH tokens.
LONG = " ".join(["The river flows past the old mill and the bridge."] * 6)


def prefilled(llm: Llama) -> int:
    return llm.session.stats.n_prefill


def test_same_prompt_reuses_everything(llm: Llama):
    llm(LONG, max_tokens=4, temperature=0)
    before = prefilled(llm)
    response = llm(LONG, max_tokens=4, temperature=0)
    assert prefilled(llm) == before
    assert response["usage"]["prompt_tokens_reused"] == response["usage"]["prompt_tokens"] - 1


def test_longer_prompt_prefills_from_ubatch_boundary(llm: Llama):
    llm(LONG, max_tokens=4, temperature=0)
    n_long = len(llm.tokenize(LONG.encode()))
    before = prefilled(llm)
    response = llm(LONG + " Then it rained.", max_tokens=4, temperature=0)
    n_new = response["usage"]["prompt_tokens"] - n_long
    reused = response["usage"]["prompt_tokens_reused"]
    assert reused % N_UBATCH == 0
    assert n_long - 1 - N_UBATCH < reused <= n_long - 1
    assert prefilled(llm) - before == response["usage"]["prompt_tokens"] - 1 - reused
    assert prefilled(llm) - before < n_new + N_UBATCH


def test_longest_reuse_prefills_only_new_tokens(gemma_path: str):
    with Llama(gemma_path, prefix_reuse="longest", **OPTIONS) as llm:
        llm(LONG, max_tokens=4, temperature=0)
        n_long = len(llm.tokenize(LONG.encode()))
        before = prefilled(llm)
        response = llm(LONG + " Then it rained.", max_tokens=4, temperature=0)
        n_new = response["usage"]["prompt_tokens"] - n_long
        assert prefilled(llm) - before == n_new


def test_reuse_gives_fresh_output(gemma_path: str):
    # llama-cpp-python 0.3.36 fails this: it keeps the shared BOS and
    # evaluates the rest in a batch of another shape.
    options = dict(max_tokens=48, temperature=0)
    with Llama(gemma_path, **OPTIONS) as fresh:
        expected = text_of(fresh("Once upon a time", **options))
        expected_seeded = text_of(fresh(LONG, max_tokens=32, temperature=0.8, seed=42))
    with Llama(gemma_path, **OPTIONS) as llm:
        llm("Something unrelated about the sea", max_tokens=8, temperature=0)
        assert text_of(llm("Once upon a time", **options)) == expected
        llm(LONG[:40], max_tokens=8, temperature=0)
        assert text_of(llm(LONG, max_tokens=32, temperature=0.8, seed=42)) == expected_seeded


def test_hybrid_model_falls_back_to_full_prefill(tiny_qwen35_path: Path):
    with Llama(str(tiny_qwen35_path), draft=None, prefix_reuse="longest", **OPTIONS) as llm:
        first = text_of(llm(LONG, max_tokens=8, temperature=0))
        llm("Other text", max_tokens=4, temperature=0)
        assert text_of(llm(LONG, max_tokens=8, temperature=0)) == first


def test_save_and_load_state_resume(llm: Llama):
    llm(PROMPT, max_tokens=4, temperature=0)
    state = llm.save_state()
    continuation = list(islice(llm.generate([], reset=False, temp=0), 12))
    llm("Something else", max_tokens=8, temperature=0)
    llm.load_state(state)
    assert list(islice(llm.generate([], reset=False, temp=0), 12)) == continuation


def test_save_and_load_state_with_mtp(tiny_qwen35_path: Path):
    with Llama(str(tiny_qwen35_path), **OPTIONS) as llm:
        llm(PROMPT, max_tokens=4, temperature=0)
        state = llm.save_state()
        continuation = list(islice(llm.generate([], reset=False, temp=0), 12))
        llm.reset()
        llm.load_state(state)
        assert list(islice(llm.generate([], reset=False, temp=0), 12)) == continuation


def test_ram_cache_restores_prefix(gemma_path: str):
    with Llama(gemma_path, **OPTIONS) as llm:
        llm.set_cache(LlamaRAMCache(capacity_bytes=1 << 30))
        first = text_of(llm(LONG, max_tokens=8, temperature=0))
        llm.reset()
        assert text_of(llm(LONG, max_tokens=8, temperature=0)) == first
        # NOTE: a restored session cannot rewind yet (llamamtp_session_restore
        # keeps no removable positions), so the cache hit still prefills again.
        assert len(llm.cache.cache_state) == 1


def test_disk_cache_round_trip(llm: Llama, tmp_path: Path):
    cache = LlamaDiskCache(tmp_path / "cache")
    llm(PROMPT, max_tokens=2, temperature=0)
    cache[llm.session.tokens] = llm.save_state()
    state = cache[llm.session.tokens + [5]]
    assert list(state.input_ids) == llm.session.tokens
    with pytest.raises(KeyError):
        LlamaDiskCache(tmp_path / "empty")[[1, 2]]


def test_pickle_reloads_from_path(llm: Llama):
    expected = text_of(llm(PROMPT, max_tokens=8, temperature=0))
    with pickle.loads(pickle.dumps(llm)) as copy:
        assert copy.model_path == llm.model_path
        assert copy.n_ctx() == llm.n_ctx()
        assert text_of(copy(PROMPT, max_tokens=8, temperature=0)) == expected


def test_eval_and_sample_match_generate(llm: Llama):
    tokens = llm.tokenize(PROMPT.encode())
    expected = list(islice(llm.generate(tokens, temp=0), 6))
    llm.reset()
    llm.eval(tokens)
    sampled = []
    for _ in range(6):
        token = llm.sample(temp=0)
        sampled.append(token)
        llm.eval([token])
    assert sampled == expected


def test_sample_twice_samples_same_position(llm: Llama):
    tokens = llm.tokenize(PROMPT.encode())
    llm.reset()
    llm.eval(tokens)
    first = llm.sample(temp=0)
    assert llm.n_tokens == len(tokens)
    assert llm.sample(temp=0) == first
    llm.eval([first])
    assert list(llm.input_ids) == tokens + [first]


def test_sample_idx_leaves_sequence(llm: Llama):
    tokens = llm.tokenize(LONG.encode())
    llm.reset()
    llm.eval(tokens)
    llm.sample(temp=0, idx=5)
    assert llm.n_tokens == len(tokens)
    assert list(llm.input_ids) == tokens
    token = llm.sample(temp=0)
    llm.eval([token])
    assert list(llm.input_ids) == tokens + [token]


@pytest.mark.parametrize("draft", [None, "mtp"])
def test_sample_idx_equals_shorter_eval(tiny_qwen35_path: Path, draft):
    # A hybrid model: its recurrent state cannot always rewind, so sample(idx)
    # evaluates again from the start.
    with Llama(str(tiny_qwen35_path), draft=draft, **OPTIONS) as llm:
        tokens = llm.tokenize(b"The river flows past the old mill and the bridge.")
        expected = []
        for end in range(1, len(tokens)):
            llm.reset()
            llm.eval(tokens[: end + 1])
            expected.append(llm.sample(temp=0))
        llm.reset()
        llm.eval(tokens)
        assert [llm.sample(temp=0, idx=end) for end in range(1, len(tokens))] == expected
        assert list(llm.input_ids) == tokens


@pytest.mark.parametrize("idx", [-1, 10**6, 1.5, True])
def test_sample_bad_idx_raises(llm: Llama, idx):
    tokens = llm.tokenize(PROMPT.encode())
    llm.reset()
    llm.eval(tokens)
    with pytest.raises(ValueError, match="idx must be a position"):
        llm.sample(idx=idx)
    assert list(llm.input_ids) == tokens
    assert llm.sample(temp=0) >= 0


def test_from_pretrained_offline(gemma_path: str, tmp_path: Path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    # The hub cache layout: models--{org}--{name}/blobs, snapshots/{revision}, refs/main.
    repo = tmp_path / "hub" / "models--example--tiny-gguf"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    shutil.copy(gemma_path, snapshot / "model-Q4_K_M.gguf")
    (snapshot / "README.md").write_text("a test repository\n")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    llm = Llama.from_pretrained("example/tiny-gguf", "*Q4_K_M.gguf",
                                cache_dir=str(tmp_path / "hub"), **OPTIONS)  # fmt: skip
    with llm:
        assert Path(llm.model_path).name == "model-Q4_K_M.gguf"
        assert text_of(llm(PROMPT, max_tokens=2, temperature=0))
    with pytest.raises(ValueError, match="no file in 'example/tiny-gguf' matches"):
        Llama.from_pretrained("example/tiny-gguf", "*Q8_0.gguf", cache_dir=str(tmp_path / "hub"))
