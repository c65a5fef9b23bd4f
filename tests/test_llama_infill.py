"""Fill-in-the-middle: ``suffix`` builds the prompt from the model's FIM tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamamtp import Llama
from llamamtp.prompt import tokenize_suffix
from tests.conftest import VOCAB_DIR, write_tiny_llama
from tests.llama_fixtures import OPTIONS, joined, text_of

STARCODER_VOCAB = VOCAB_DIR / "ggml-vocab-starcoder.gguf"
PREFIX = "def add(a, b):\n    "
SUFFIX = "\n    return c\n"


@pytest.fixture(scope="module")
def starcoder(tmp_path_factory: pytest.TempPathFactory):
    """A tiny model with StarCoder's tokenizer: <fim_prefix>, <fim_suffix>, <fim_middle>."""
    path = tmp_path_factory.mktemp("fim") / "tiny-starcoder.gguf"
    write_tiny_llama(path, STARCODER_VOCAB)
    with Llama(str(path), **OPTIONS) as llama:
        yield llama


def plain_tokens(llm: Llama, text: str) -> list[int]:
    return llm.tokenize(text.encode(), add_bos=False)


def test_fim_tokens_found(starcoder: Llama):
    vocab = starcoder.model.vocab
    assert vocab.text(vocab.fim_pre) == "<fim_prefix>"
    assert vocab.text(vocab.fim_suf) == "<fim_suffix>"
    assert vocab.text(vocab.fim_mid) == "<fim_middle>"


def test_prompt_layout(starcoder: Llama):
    vocab = starcoder.model.vocab
    response = starcoder(PREFIX, suffix=SUFFIX, max_tokens=4, temperature=0)
    expected = [vocab.fim_pre, *plain_tokens(starcoder, PREFIX), vocab.fim_suf,
                *plain_tokens(starcoder, SUFFIX), vocab.fim_mid]  # fmt: skip
    assert response["usage"]["prompt_tokens"] == len(expected)
    assert list(starcoder.input_ids[: len(expected)]) == expected


def test_spm_infill_puts_suffix_first(tmp_path: Path):
    path = write_tiny_llama(
        tmp_path / "tiny-starcoder.gguf", VOCAB_DIR / "ggml-vocab-starcoder.gguf"
    )
    with Llama(str(path), spm_infill=True, **OPTIONS) as llm:
        vocab = llm.model.vocab
        llm(PREFIX, suffix=SUFFIX, max_tokens=1, temperature=0)
        expected = [vocab.fim_suf, *plain_tokens(llm, SUFFIX), vocab.fim_pre,
                    *plain_tokens(llm, PREFIX), vocab.fim_mid]  # fmt: skip
        assert list(llm.input_ids[: len(expected)]) == expected


def test_bos_starts_prompt_when_model_wants_it(tmp_path: Path):
    # DeepSeek Coder adds BOS, and names its FIM tokens <｜fim▁begin｜> and so on.
    path = tmp_path / "tiny-deepseek-coder.gguf"
    write_tiny_llama(path, VOCAB_DIR / "ggml-vocab-deepseek-coder.gguf")
    with Llama(str(path), **OPTIONS) as llm:
        vocab = llm.model.vocab
        llm(PREFIX, suffix=SUFFIX, max_tokens=1, temperature=0)
        assert list(llm.input_ids[:2]) == [vocab.bos, vocab.fim_pre]


def test_token_list_prefix(starcoder: Llama):
    tokens = plain_tokens(starcoder, PREFIX)
    options = dict(suffix=SUFFIX, max_tokens=6, temperature=0)
    assert text_of(starcoder(tokens, **options)) == text_of(starcoder(PREFIX, **options))


def test_echo_and_stream(starcoder: Llama):
    options = dict(suffix=SUFFIX, max_tokens=6, temperature=0)
    middle = text_of(starcoder(PREFIX, **options))
    assert text_of(starcoder(PREFIX, echo=True, **options)) == PREFIX + middle
    assert joined(starcoder(PREFIX, stream=True, **options)) == middle


def test_empty_prefix_and_suffix(starcoder: Llama):
    vocab = starcoder.model.vocab
    starcoder("", suffix="", max_tokens=1, temperature=0)
    assert list(starcoder.input_ids[:3]) == [vocab.fim_pre, vocab.fim_suf, vocab.fim_mid]


def test_suffix_has_no_space_prefix(tiny_llama_path: Path):
    # Llama's SentencePiece tokenizer prepends a space to a text's start; the
    # suffix continues the middle, so it must not get one.
    with Llama(str(tiny_llama_path), vocab_only=True, verbose=False) as llm:
        vocab = llm.model.vocab
        assert vocab.token_to_piece(plain_tokens(llm, "return")[0]).startswith(b" ")
        tokens = tokenize_suffix(vocab, "return x")
        assert vocab.detokenize(tokens) == b"return x"


def test_model_without_fim_tokens_raises(llm: Llama):
    with pytest.raises(ValueError, match="fill-in-the-middle tokens"):
        llm(PREFIX, suffix=SUFFIX, max_tokens=2)
    assert text_of(llm("Hello", max_tokens=2, temperature=0))


def test_echo_logprobs_with_suffix_raises(starcoder: Llama):
    with pytest.raises(NotImplementedError, match="echo=True and a suffix"):
        starcoder(PREFIX, suffix=SUFFIX, echo=True, logprobs=1, max_tokens=2)
