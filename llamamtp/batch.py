"""``Batch``: token input for :meth:`llamamtp.Context.decode`."""

from __future__ import annotations

from collections.abc import Sequence

from llamamtp._native import lib
from llamamtp._owner import NativeOwner


class Batch(NativeOwner):
    """A ``llama_batch`` holding up to ``capacity`` tokens.

    Each entry is a token id, its position, the sequences it belongs to, and
    whether the context should output logits for it.
    """

    _kind = "batch"

    def __init__(self, capacity: int, n_seq_max: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"batch capacity must be at least 1, got {capacity}")
        if n_seq_max < 1:
            raise ValueError(f"n_seq_max must be at least 1, got {n_seq_max}")
        self.capacity = capacity
        self.n_seq_max = n_seq_max
        # llama_batch_init returns the struct by value; keep it in a cdata box
        # so that close() can free exactly what was allocated.
        batch = lib.llama_batch_init(capacity, 0, n_seq_max)
        self._own(batch, lib.llama_batch_free)
        self._batch = batch

    @property
    def n_tokens(self) -> int:
        """Number of entries added since the last :meth:`clear`."""
        return self.ptr.n_tokens

    def clear(self) -> None:
        """Remove every entry."""
        self.ptr.n_tokens = 0

    def add(
        self, token: int, pos: int, seq_ids: Sequence[int] = (0,), logits: bool = False
    ) -> None:
        """Append one token at position ``pos`` of the given sequences."""
        batch = self.ptr
        i = batch.n_tokens
        if i >= self.capacity:
            raise ValueError(
                f"batch is full ({self.capacity} tokens); decode it and clear() it, "
                f"or create a larger Batch"
            )
        if not 1 <= len(seq_ids) <= self.n_seq_max:
            raise ValueError(
                f"a token belongs to 1 to {self.n_seq_max} sequences in this batch, "
                f"got {len(seq_ids)}"
            )
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = len(seq_ids)
        for j, seq_id in enumerate(seq_ids):
            batch.seq_id[i][j] = seq_id
        batch.logits[i] = logits
        batch.n_tokens = i + 1

    def set_tokens(
        self, tokens: Sequence[int], pos0: int, seq_id: int = 0, logits_last: bool = True
    ) -> None:
        """Replace the contents with ``tokens`` at positions ``pos0, pos0+1, ...``.

        Only the last token outputs logits when ``logits_last`` is true.
        """
        if len(tokens) > self.capacity:
            raise ValueError(
                f"{len(tokens)} tokens do not fit in a batch of capacity {self.capacity}; "
                f"split them into chunks"
            )
        self.clear()
        for offset, token in enumerate(tokens):
            self.add(token, pos0 + offset, (seq_id,), False)
        if tokens and logits_last:
            self.ptr.logits[len(tokens) - 1] = True

    def tokens(self) -> list[int]:
        """Return the token ids currently in the batch."""
        batch = self.ptr
        return [batch.token[i] for i in range(batch.n_tokens)]
