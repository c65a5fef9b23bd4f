"""``Vocab``: tokenization and detokenization with a model's vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llamamtp._native import ffi, lib
from llamamtp.errors import LlamaError

if TYPE_CHECKING:
    from llamamtp.model import Model


class Vocab:
    """A model's vocabulary; valid while its :class:`~llamamtp.Model` is open.

    Text goes in as ``str`` (encoded as UTF-8) or ``bytes``; pieces and
    detokenized text come back as ``bytes``, because one token can hold part
    of a multi-byte character.
    """

    def __init__(self, ptr: Any, model: Model) -> None:
        self._vocab = ptr
        self._model = model

    @property
    def ptr(self) -> Any:
        """The native ``llama_vocab *``; raises once the model is closed."""
        self._model.ptr  # noqa: B018 - raises ClosedError after the model is closed
        return self._vocab

    @property
    def n_tokens(self) -> int:
        """Number of tokens in the vocabulary."""
        return lib.llama_vocab_n_tokens(self.ptr)

    def tokenize(
        self, text: str | bytes, add_special: bool = True, parse_special: bool = False
    ) -> list[int]:
        """Split text into token ids.

        ``add_special`` adds the BOS/EOS tokens the model's metadata requests;
        ``parse_special`` turns control-token text such as ``<|im_start|>``
        into the control token instead of plain text.
        """
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        vocab = self.ptr
        capacity = len(data) + 8
        tokens = ffi.new("llama_token[]", capacity)
        n = lib.llama_tokenize(vocab, data, len(data), tokens, capacity, add_special, parse_special)
        if n < 0:
            capacity = -n
            tokens = ffi.new("llama_token[]", capacity)
            n = lib.llama_tokenize(
                vocab, data, len(data), tokens, capacity, add_special, parse_special
            )
        if n < 0:
            raise LlamaError(f"llama_tokenize failed for {len(data)} bytes of text (status {n})")
        return list(ffi.unpack(tokens, n))

    def token_to_piece(self, token: int, special: bool = False) -> bytes:
        """Return the bytes of one token; ``special`` renders control tokens as their text."""
        self.check_tokens((token,))
        vocab = self.ptr
        buf = ffi.new("char[]", 64)
        n = lib.llama_token_to_piece(vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ffi.new("char[]", -n)
            n = lib.llama_token_to_piece(vocab, token, buf, -n, 0, special)
        return ffi.unpack(buf, n)

    def detokenize(
        self, tokens: Sequence[int], remove_special: bool = False, unparse_special: bool = False
    ) -> bytes:
        """Join token ids back into text bytes.

        ``remove_special`` drops a leading BOS / trailing EOS; ``unparse_special``
        renders control tokens as their text instead of dropping them.
        """
        tokens = list(tokens)
        self.check_tokens(tokens)
        if not tokens:
            return b""
        vocab = self.ptr
        c_tokens = ffi.new("llama_token[]", tokens)
        capacity = max(16, 4 * len(tokens))
        buf = ffi.new("char[]", capacity)
        n = lib.llama_detokenize(
            vocab, c_tokens, len(tokens), buf, capacity, remove_special, unparse_special
        )
        if n < 0:
            capacity = -n
            buf = ffi.new("char[]", capacity)
            n = lib.llama_detokenize(
                vocab, c_tokens, len(tokens), buf, capacity, remove_special, unparse_special
            )
        if n < 0:
            raise LlamaError(f"llama_detokenize failed for {len(tokens)} tokens (status {n})")
        return ffi.unpack(buf, n)

    def check_tokens(self, tokens: Sequence[int]) -> None:
        """Raise ``ValueError`` naming the first id outside ``[0, n_tokens)``."""
        n_tokens = self.n_tokens
        for position, token in enumerate(tokens):
            if not 0 <= token < n_tokens:
                raise ValueError(
                    f"token id {token} at position {position} is outside the vocabulary "
                    f"[0, {n_tokens}); use ids produced by this model's tokenizer"
                )

    def text(self, token: int) -> str:
        """Return the token's raw entry in the vocabulary.

        Not decoded text: byte-level BPE vocabularies store bytes as printable
        characters (a space as "Ġ"); use :meth:`token_to_piece` for the bytes.
        """
        self.check_tokens((token,))
        return ffi.string(lib.llama_vocab_get_text(self.ptr, token)).decode(
            "utf-8", errors="replace"
        )

    def is_eog(self, token: int) -> bool:
        """True for end-of-generation tokens (EOS, EOT, end-of-turn and the like)."""
        return bool(lib.llama_vocab_is_eog(self.ptr, token))

    def is_control(self, token: int) -> bool:
        """True for control tokens such as ``<|im_start|>``."""
        self.check_tokens((token,))
        return bool(lib.llama_vocab_is_control(self.ptr, token))

    # Special tokens; -1 when the vocabulary has none.

    @property
    def bos(self) -> int:
        return lib.llama_vocab_bos(self.ptr)

    @property
    def eos(self) -> int:
        return lib.llama_vocab_eos(self.ptr)

    @property
    def eot(self) -> int:
        return lib.llama_vocab_eot(self.ptr)

    @property
    def nl(self) -> int:
        return lib.llama_vocab_nl(self.ptr)

    @property
    def sep(self) -> int:
        return lib.llama_vocab_sep(self.ptr)

    @property
    def pad(self) -> int:
        return lib.llama_vocab_pad(self.ptr)

    # Fill-in-the-middle tokens, found by llama.cpp from the metadata or the
    # token texts (<|fim_prefix|>, <fim_prefix>, <PRE>, ...).

    @property
    def fim_pre(self) -> int:
        """The token before the prefix in a fill-in-the-middle prompt."""
        return lib.llama_vocab_fim_pre(self.ptr)

    @property
    def fim_suf(self) -> int:
        """The token before the suffix in a fill-in-the-middle prompt."""
        return lib.llama_vocab_fim_suf(self.ptr)

    @property
    def fim_mid(self) -> int:
        """The token after which the model writes the middle."""
        return lib.llama_vocab_fim_mid(self.ptr)

    @property
    def add_bos(self) -> bool:
        """Whether tokenize(add_special=True) prepends BOS for this model."""
        return bool(lib.llama_vocab_get_add_bos(self.ptr))

    @property
    def add_eos(self) -> bool:
        return bool(lib.llama_vocab_get_add_eos(self.ptr))
