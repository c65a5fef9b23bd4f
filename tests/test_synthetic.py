"""Synthetic models: they load through the binding, and the oracle keeps its promises."""

from __future__ import annotations

import fnmatch
import importlib.util
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import llamamtp
from llamamtp.synthetic import ARCHS, read_oracle, tokenizer, write_oracle, write_tiny
from llamamtp.synthetic import writer as synthetic_writer
from llamamtp.synthetic.gguf_read import read_gguf_tensors

from .conftest import LLAMA_CPP_DIR, ORACLE_ALPHA, VOCAB_DIR

# One thread: the tiny models need no more, and a second thread only adds spin-waiting
# when the test machine is busy.
N_THREADS = 1
TEXT = "The quick brown fox jumps over the lazy dog. Größe: 42 km/h, 東京!"


def greedy(model: llamamtp.Model, prompt: list[int], n_tokens: int) -> list[int]:
    """Generate ``n_tokens`` tokens greedily, one token per decode."""
    with llamamtp.Context(model, n_ctx=512, n_batch=64, n_threads=N_THREADS) as ctx:
        batch = llamamtp.Batch(64)
        batch.set_tokens(prompt, 0)
        ctx.decode(batch)
        sampler = llamamtp.Sampler().greedy()
        tokens = []
        for pos in range(len(prompt), len(prompt) + n_tokens):
            token = sampler.sample(ctx, -1)
            tokens.append(token)
            batch.set_tokens([token], pos)
            ctx.decode(batch)
        return tokens


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def mtp_top_choices(path: Path, tokens: list[int], n_layer: int) -> np.ndarray:
    """The MTP head's top token after each of ``tokens``, computed in numpy from the file.

    The MTP block's attention and FFN outputs are zero in an oracle model (checked
    here), so the block reduces to eh_proj, the norms and the head.
    """
    blk = f"blk.{n_layer}"
    names = ["token_embd.weight", f"{blk}.attn_output.weight", f"{blk}.ffn_down.weight"] + [
        f"{blk}.nextn.{name}.weight"
        for name in ("eh_proj", "enorm", "hnorm", "shared_head_norm", "shared_head_head")
    ]
    w = {
        name.removeprefix(f"{blk}."): np.asarray(t)
        for name, t in read_gguf_tensors(path, names).items()
    }
    assert not w["attn_output.weight"].any()
    assert not w["ffn_down.weight"].any()

    embeddings = w["token_embd.weight"][tokens]
    # Any trunk hidden state gives the same top token, so a random one shows that.
    hidden = np.random.default_rng(0).standard_normal(embeddings.shape).astype(np.float32)
    concat = np.hstack([rms_norm(embeddings, w["nextn.enorm.weight"]),
                        rms_norm(hidden, w["nextn.hnorm.weight"])])  # fmt: skip
    x = concat @ w["nextn.eh_proj.weight"].T
    x = rms_norm(x, w["nextn.shared_head_norm.weight"])
    logits = x @ w["nextn.shared_head_head.weight"].T
    return logits.argmax(axis=-1)


# Loading and the tokenizer


@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_loads_with_one_mtp_block(tiny_model_paths, arch):
    with llamamtp.Model(tiny_model_paths[arch], load_mtp=True) as model:
        assert model.n_layer_nextn == 1
        assert model.n_layer == 4
        assert model.is_hybrid
        assert model.metadata["general.architecture"] == arch


@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_tokenizer_round_trips(tiny_model_paths, arch):
    with llamamtp.Model(tiny_model_paths[arch], vocab_only=True) as model:
        tokens = model.vocab.tokenize(TEXT)
        assert model.vocab.detokenize(tokens) == TEXT.encode()
        assert model.n_vocab == 151_936


def test_tiny_has_qwen35_chat_template(tiny_qwen35_path):
    with llamamtp.Model(tiny_qwen35_path, vocab_only=True) as model:
        template = model.chat_template()
    assert template is not None
    assert "<|im_start|>" in template


def test_oracle_loads_with_one_mtp_block(oracle_tiny_path):
    with llamamtp.Model(oracle_tiny_path, load_mtp=True) as model:
        assert model.n_layer_nextn == 1
        assert model.vocab.detokenize(model.vocab.tokenize(TEXT)) == TEXT.encode()


@pytest.mark.parametrize("ftype", ["Q8_0", "Q4_K_M"])
def test_tiny_quantized_keeps_mtp_block(tmp_path, ftype):
    path = write_tiny(tmp_path / f"tiny-{ftype}.gguf", ftype=ftype)
    with llamamtp.Model(path, load_mtp=True) as model:
        assert model.n_layer_nextn == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


# Decoding


@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_batched_greedy_equals_single_token(tiny_model_paths, arch):
    # The MTP engine verifies drafts in batches, so its equivalence tests need the
    # greedy choice of a batch row to equal that of a single-token decode.
    with llamamtp.Model(tiny_model_paths[arch]) as model:
        prompt = model.vocab.tokenize(TEXT)
        generated = greedy(model, prompt, 32)
        sequence = prompt + generated
        with llamamtp.Context(model, n_ctx=512, n_batch=64, n_threads=N_THREADS) as ctx:
            batch = llamamtp.Batch(64)
            for pos, token in enumerate(sequence[:-1]):
                batch.add(token, pos, (0,), pos >= len(prompt) - 1)
            ctx.decode(batch)
            first = len(prompt) - 1
            batched = [int(ctx.logits(first + i).argmax()) for i in range(len(generated))]
    assert batched == generated


def test_oracle_greedy_follows_cycle(oracle_tiny_path, oracle_tiny):
    with llamamtp.Model(oracle_tiny_path) as model:
        prompt = model.vocab.tokenize(TEXT)
        generated = greedy(model, prompt, 200)
    expected = [oracle_tiny.f(prompt[-1])]
    while len(expected) < 200:
        expected.append(oracle_tiny.f(expected[-1]))
    assert generated == expected


# Oracle acceptance


@pytest.mark.parametrize("alpha", [0.0, 0.3, ORACLE_ALPHA, 1.0])
def test_oracle_mtp_head_agrees_on_alpha_of_cycle(tmp_path, oracle_tiny_path, alpha):
    path = oracle_tiny_path
    if alpha != ORACLE_ALPHA:
        path = write_oracle(tmp_path / "oracle.gguf", "tiny", alpha)
    oracle = read_oracle(path)
    cycle = list(oracle.cycle)
    k = len(cycle)

    top = mtp_top_choices(path, cycle, n_layer=4)
    next_tokens = np.array([oracle.f(c) for c in cycle])
    measured = float(np.mean(top == next_tokens))

    # The writer makes g equal f on exactly round(alpha * K) of the K cycle tokens,
    # so the measured fraction is alpha rounded to a multiple of 1/K: it lies within
    # half a step, 1/(2K), of alpha (plus float slack).
    assert abs(measured - alpha) <= 1 / (2 * k) + 1e-9
    assert measured == oracle.acceptance
    assert list(top) == [oracle.g(c) for c in cycle]


def test_full_agreement_accepts_every_draft(oracle_tiny):
    full = type(oracle_tiny)(oracle_tiny.cycle, (True,) * oracle_tiny.cycle_length, 1.0)
    drafted, accepted = full.simulate_speculative(full.cycle[0], n_draft=3, n_predict=100)
    assert drafted == accepted


def test_read_oracle_rejects_tiny_random(tiny_qwen35_path):
    with pytest.raises(ValueError, match="not an oracle model"):
        read_oracle(tiny_qwen35_path)


# Files: determinism, validation, interruption


def test_same_arguments_give_same_bytes(tmp_path, tiny_qwen35_path):
    again = write_tiny(tmp_path / "again.gguf", "qwen35", seed=0)
    assert again.read_bytes() == tiny_qwen35_path.read_bytes()


def test_other_seed_gives_other_bytes(tmp_path, oracle_tiny_path):
    other = write_oracle(tmp_path / "other.gguf", "tiny", ORACLE_ALPHA, seed=1)
    assert other.read_bytes() != oracle_tiny_path.read_bytes()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": -0.1}, ValueError, "alpha"),
        ({"alpha": 1.5}, ValueError, "alpha"),
        ({"alpha": math.nan}, ValueError, "alpha"),
        ({"preset": "3B"}, ValueError, "unknown preset"),
        ({"seed": -1}, ValueError, "seed"),
        ({"ftype": "Q9_9"}, ValueError, "unknown ftype"),
        ({"cycle_length": 1}, ValueError, "cycle_length"),
        ({"cycle_length": 64}, ValueError, "cycle_length"),
        ({"vocab_path": "/nonexistent/vocab.gguf"}, FileNotFoundError, "tokenizer"),
    ],
)
def test_invalid_oracle_arguments_raise_before_writing(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_oracle(tmp_path / "model.gguf", **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"arch": "llama"}, ValueError, "unknown arch"),
        ({"logit_scale": 0.0}, ValueError, "logit_scale"),
        ({"ftype": "F64"}, ValueError, "unknown ftype"),
    ],
)
def test_invalid_tiny_arguments_raise_before_writing(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_tiny(tmp_path / "model.gguf", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_missing_output_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="output folder not found"):
        write_tiny(tmp_path / "missing" / "model.gguf")
    assert list(tmp_path.iterdir()) == []


def test_output_path_that_is_a_folder_raises(tmp_path):
    with pytest.raises(IsADirectoryError, match="folder"):
        write_tiny(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    calls = 0
    pad = synthetic_writer._pad

    def pad_then_interrupt(stream, alignment):
        # Interrupt after a few tensors have been written, as Ctrl-C would.
        nonlocal calls
        calls += 1
        if calls == 5:
            raise KeyboardInterrupt
        pad(stream, alignment)

    monkeypatch.setattr(synthetic_writer, "_pad", pad_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_tiny(tmp_path / "model.gguf")
    assert calls == 5
    assert list(tmp_path.iterdir()) == []


def test_interrupted_quantized_write_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic_writer, "_pad", _raise_keyboard_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_tiny(tmp_path / "model.gguf", ftype="Q8_0")
    assert list(tmp_path.iterdir()) == []


def _raise_keyboard_interrupt(stream, alignment):
    raise KeyboardInterrupt


# Where the tokenizer comes from: the copy build.py installs, the source tree, or the user.

ROOT = Path(__file__).resolve().parent.parent


def load_build_script():
    """Import build.py by path, as setup.py does (the name 'build' is also a PyPI package)."""
    spec = importlib.util.spec_from_file_location("llamamtp_build_script", ROOT / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_vocab_env(monkeypatch):
    monkeypatch.delenv(tokenizer.VOCAB_ENV, raising=False)


def test_vocab_found_in_package_data(no_vocab_env):
    packaged = tokenizer.PACKAGE_DATA_DIR / tokenizer.VOCAB_FILE
    assert packaged.is_file(), f"{packaged} missing; run 'python build.py' to install it"
    assert tokenizer.find_vocab_path() == packaged


def test_chat_template_found_in_package_data():
    packaged = tokenizer.PACKAGE_DATA_DIR / tokenizer.CHAT_TEMPLATE_FILE
    assert packaged.is_file(), f"{packaged} missing; run 'python build.py' to install it"
    assert tokenizer.find_chat_template_path() == packaged


def test_vocab_env_wins_over_package_data(monkeypatch, tmp_path):
    copy = tmp_path / "my-vocab.gguf"
    shutil.copy(VOCAB_DIR / tokenizer.VOCAB_FILE, copy)
    monkeypatch.setenv(tokenizer.VOCAB_ENV, str(copy))
    assert tokenizer.find_vocab_path() == copy


def test_vocab_env_naming_missing_file_raises(monkeypatch, tmp_path):
    monkeypatch.setenv(tokenizer.VOCAB_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        tokenizer.find_vocab_path()


def test_empty_vocab_env_is_unset(monkeypatch):
    monkeypatch.setenv(tokenizer.VOCAB_ENV, "")
    assert tokenizer.find_vocab_path() == tokenizer.PACKAGE_DATA_DIR / tokenizer.VOCAB_FILE


def test_source_tree_without_package_copy(no_vocab_env, monkeypatch, tmp_path):
    source_vocab = tokenizer._source_models_dir() / tokenizer.VOCAB_FILE
    if not source_vocab.is_file():
        pytest.skip(f"{source_vocab} missing: built from LLAMAMTP_LLAMA_CPP_DIR")
    monkeypatch.setattr(tokenizer, "PACKAGE_DATA_DIR", tmp_path)
    assert tokenizer.find_vocab_path() == source_vocab
    assert tokenizer.find_chat_template_path().parent.name == "templates"


def test_vocab_missing_everywhere_raises(no_vocab_env, monkeypatch, tmp_path):
    monkeypatch.setattr(tokenizer, "PACKAGE_DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(tokenizer, "_source_models_dir", lambda: tmp_path / "models")
    with pytest.raises(FileNotFoundError) as error:
        tokenizer.find_vocab_path()
    assert tokenizer.VOCAB_ENV in str(error.value)
    assert str(tmp_path / "data") in str(error.value)
    assert tokenizer.find_chat_template_path() is None


def test_build_installs_package_data(tmp_path):
    build = load_build_script()
    target = tmp_path / "data"
    build.install_package_data(LLAMA_CPP_DIR, target)
    for relative in build.PACKAGE_DATA_FILES:
        installed = target / Path(relative).name
        assert installed.read_bytes() == (LLAMA_CPP_DIR / relative).read_bytes()
    assert tokenizer.VOCAB_FILE in {path.name for path in target.iterdir()}
    assert tokenizer.CHAT_TEMPLATE_FILE in {path.name for path in target.iterdir()}


def test_build_removes_copy_missing_from_source(tmp_path):
    build = load_build_script()
    target = tmp_path / "data"
    target.mkdir()
    stale = target / tokenizer.VOCAB_FILE
    stale.write_bytes(b"from an earlier build")
    build.install_package_data(tmp_path / "empty-checkout", target)
    assert not stale.exists()


def test_package_data_ships_data_folder():
    tomllib = pytest.importorskip("tomllib")
    build = load_build_script()
    with open(ROOT / "pyproject.toml", "rb") as stream:
        patterns = tomllib.load(stream)["tool"]["setuptools"]["package-data"]["llamamtp"]
    for relative in build.PACKAGE_DATA_FILES:
        name = f"data/{Path(relative).name}"
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
