"""Tokenizer conformance: every vendored vocab file with upstream vectors, through our binding."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamamtp import Model

from .conftest import VOCAB_DIR

SEPARATOR = "\n__ggml_vocab_test__\n"
VOCAB_FILES = sorted(
    path for path in VOCAB_DIR.glob("ggml-vocab-*.gguf")
    if path.with_name(path.name + ".inp").exists() and path.with_name(path.name + ".out").exists()
)  # fmt: skip


def read_vectors(vocab_path: Path) -> list[tuple[str, list[int]]]:
    """Pair each input text with its expected token ids, as upstream's test-tokenizer-0 does."""
    inputs = vocab_path.with_name(vocab_path.name + ".inp").read_text(encoding="utf-8")
    outputs = vocab_path.with_name(vocab_path.name + ".out").read_text(encoding="utf-8")
    # Every text, the last included, is followed by the separator.
    texts = inputs.split(SEPARATOR)
    if texts and texts[-1] == "":
        texts.pop()
    expected = [[int(t) for t in line.split()] for line in outputs.splitlines()]
    assert len(texts) == len(expected), f"{vocab_path.name}: .inp and .out disagree in length"
    return list(zip(texts, expected, strict=True))


def test_vocab_files_found() -> None:
    assert len(VOCAB_FILES) >= 15, f"expected the vendored vocab files under {VOCAB_DIR}"


@pytest.mark.parametrize("vocab_path", VOCAB_FILES, ids=lambda path: path.name)
def test_tokenize_matches_upstream(vocab_path: Path) -> None:
    with Model(vocab_path, vocab_only=True) as model:
        for text, expected in read_vectors(vocab_path):
            tokens = model.vocab.tokenize(text, add_special=False, parse_special=False)
            assert tokens == expected, f"{vocab_path.name}: tokenize({text!r})"


# WordPiece (BERT) lowercases and drops whitespace, so its text cannot be restored.
LOSSY_VOCABS = {"ggml-vocab-bert-bge.gguf"}


@pytest.mark.parametrize(
    "vocab_path",
    [path for path in VOCAB_FILES if path.name not in LOSSY_VOCABS],
    ids=lambda path: path.name,
)
def test_detokenize_round_trip(vocab_path: Path) -> None:
    with Model(vocab_path, vocab_only=True) as model:
        vocab = model.vocab
        for text, expected in read_vectors(vocab_path):
            detokenized = vocab.detokenize(expected)
            pieces = b"".join(vocab.token_to_piece(token) for token in expected)
            # SentencePiece vocabularies restore the text through detokenize, which
            # strips the leading space marker; byte-level BPE vocabularies restore it
            # piece by piece (their detokenize may also tidy " ?" into "?").
            assert text.encode() in (detokenized, pieces), (
                f"{vocab_path.name}: {text!r} came back as {detokenized!r} / {pieces!r}"
            )


def test_detokenize_lossy_vocab() -> None:
    with Model(VOCAB_DIR / "ggml-vocab-bert-bge.gguf", vocab_only=True) as model:
        tokens = model.vocab.tokenize("Hello World", add_special=False)
        assert model.vocab.detokenize(tokens).strip() == b"hello world"
