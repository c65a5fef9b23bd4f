"""The real Qwen tokenizer and chat template that every synthetic model carries."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from llamamtp.synthetic.gguf_read import read_gguf_metadata

VOCAB_FILE = "ggml-vocab-qwen35.gguf"
CHAT_TEMPLATE_FILE = "Qwen3.5-4B.jinja"
VOCAB_ENV = "LLAMAMTP_QWEN_VOCAB"
"""Environment variable with the path of a Qwen tokenizer GGUF; when set, it wins."""
PACKAGE_DATA_DIR = Path(__file__).resolve().parents[1] / "data"
"""``llamamtp/data``: where build.py installs the tokenizer and chat template."""

# llama.cpp's token types (llama_token_type in llama.h).
TOKEN_TYPE_NORMAL = 1
TOKEN_TYPE_UNUSED = 5

_WORD_TOKEN = re.compile(r"^\u0120[a-z]{3,10}$")
"""A BPE piece that decodes to a space and a short lowercase word ("Ġhouse")."""


@dataclass
class Tokenizer:
    """The tokenizer fields of a GGUF file, ready to copy into another one."""

    model: str
    pre: str
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    bos_token_id: int
    eos_token_id: int
    padding_token_id: int
    chat_template: str

    @property
    def n_vocab(self) -> int:
        return len(self.tokens)

    def padded(self, n_vocab: int | None) -> Tokenizer:
        """Return a copy grown to ``n_vocab`` entries with unused padding tokens."""
        if n_vocab is None or n_vocab == self.n_vocab:
            return self
        if n_vocab < self.n_vocab:
            raise ValueError(
                f"n_vocab={n_vocab} is smaller than the tokenizer's {self.n_vocab} tokens; "
                f"use n_vocab >= {self.n_vocab} or None"
            )
        extra = range(self.n_vocab, n_vocab)
        return Tokenizer(
            model=self.model,
            pre=self.pre,
            tokens=self.tokens + [f"[PAD{i}]" for i in extra],
            token_types=self.token_types + [TOKEN_TYPE_UNUSED] * len(extra),
            merges=self.merges,
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_id,
            padding_token_id=self.padding_token_id,
            chat_template=self.chat_template,
        )

    def word_token_ids(self) -> np.ndarray:
        """Ids of ordinary tokens that decode to a space and a lowercase word, ascending."""
        ids = [
            i
            for i, (text, kind) in enumerate(zip(self.tokens, self.token_types, strict=True))
            if kind == TOKEN_TYPE_NORMAL and _WORD_TOKEN.match(text)
        ]
        return np.array(ids, dtype=np.int64)

    def add_to(self, writer: gguf.GGUFWriter) -> None:
        """Write the tokenizer and chat template keys."""
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.token_types)
        writer.add_token_merges(self.merges)
        writer.add_bos_token_id(self.bos_token_id)
        writer.add_eos_token_id(self.eos_token_id)
        writer.add_pad_token_id(self.padding_token_id)
        writer.add_add_bos_token(False)
        writer.add_chat_template(self.chat_template)


def _source_models_dir() -> Path:
    """``vendor/llama.cpp/models`` of the source tree this package was imported from."""
    return Path(__file__).resolve().parents[2] / "vendor" / "llama.cpp" / "models"


def find_vocab_path(vocab_path: str | os.PathLike[str] | None = None) -> Path:
    """Locate the Qwen tokenizer GGUF.

    Order: ``vocab_path`` when given, then the ``LLAMAMTP_QWEN_VOCAB`` environment
    variable when set, then the copy that the build installs into ``llamamtp/data``,
    then ``vendor/llama.cpp/models/ggml-vocab-qwen35.gguf`` in the source tree.
    """
    if vocab_path is None:
        vocab_path = os.environ.get(VOCAB_ENV) or None
    if vocab_path is not None:
        path = Path(vocab_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"Qwen tokenizer not found at {str(path)!r}; point vocab_path= (--vocab on the "
                f"command line) or {VOCAB_ENV} at a copy of {VOCAB_FILE}"
            )
        return path

    candidates = [PACKAGE_DATA_DIR / VOCAB_FILE, _source_models_dir() / VOCAB_FILE]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"Qwen tokenizer {VOCAB_FILE} not found in {str(candidates[0].parent)!r} or "
        f"{str(candidates[1].parent)!r}; reinstall llamamtp (or run 'python build.py' in its "
        f"source tree), whose build installs it, or point vocab_path= (--vocab on the command "
        f"line) or {VOCAB_ENV} at a copy of it"
    )


def find_chat_template_path(template_path: str | os.PathLike[str] | None = None) -> Path | None:
    """Locate the Qwen3.5 chat template.

    Order: ``template_path`` when given, then the copy in ``llamamtp/data``, then
    the source tree's ``vendor/llama.cpp/models/templates``. Returns None when
    none of them exists.
    """
    if template_path is not None:
        path = Path(template_path)
        if not path.is_file():
            raise FileNotFoundError(f"chat template not found: {str(path)!r}")
        return path
    for path in (
        PACKAGE_DATA_DIR / CHAT_TEMPLATE_FILE,
        _source_models_dir() / "templates" / CHAT_TEMPLATE_FILE,
    ):
        if path.is_file():
            return path
    return None


def _require(metadata: dict[str, Any], key: str, path: Path) -> Any:
    if key not in metadata:
        raise ValueError(
            f"tokenizer file {str(path)!r} has no {key!r} key; use a llama.cpp vocab GGUF "
            f"such as {VOCAB_FILE}"
        )
    return metadata[key]


def load_tokenizer(
    vocab_path: str | os.PathLike[str] | None = None,
    template_path: str | os.PathLike[str] | None = None,
) -> Tokenizer:
    """Read the Qwen tokenizer (and chat template) that synthetic models embed.

    The end-of-generation token is ``<|im_end|>``, as in Qwen's instruct models;
    the vocab file's ``<|endoftext|>`` stays the BOS and padding token.
    """
    path = find_vocab_path(vocab_path)
    metadata = read_gguf_metadata(path)
    tokens = _require(metadata, "tokenizer.ggml.tokens", path)
    bos = _require(metadata, "tokenizer.ggml.bos_token_id", path)
    try:
        eos = tokens.index("<|im_end|>")
    except ValueError:
        eos = _require(metadata, "tokenizer.ggml.eos_token_id", path)

    template_file = find_chat_template_path(template_path)
    if template_file is not None:
        chat_template = template_file.read_text(encoding="utf-8")
    else:
        chat_template = _require(metadata, "tokenizer.chat_template", path)

    return Tokenizer(
        model=_require(metadata, "tokenizer.ggml.model", path),
        pre=_require(metadata, "tokenizer.ggml.pre", path),
        tokens=tokens,
        token_types=_require(metadata, "tokenizer.ggml.token_type", path),
        merges=_require(metadata, "tokenizer.ggml.merges", path),
        bos_token_id=bos,
        eos_token_id=eos,
        padding_token_id=metadata.get("tokenizer.ggml.padding_token_id", bos),
        chat_template=chat_template,
    )
