"""The ``logprobs`` object of a completion: log probabilities of generated and prompt tokens.

Generated tokens use the logits the session kept for them. Prompt tokens
(``logprobs`` with ``echo=True``) need the logits after every prompt
position, which the session's prefill does not output, so
:func:`prompt_logits` evaluates the prompt once more in a separate context
that outputs all rows, and frees it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from llamamtp.batch import Batch
from llamamtp.context import Context
from llamamtp.llama_types import CompletionLogprobs

if TYPE_CHECKING:
    from llamamtp.llama import Llama


def logits_to_logprobs(logits: np.ndarray) -> np.ndarray:
    """Log-softmax of a row of logits, in float32."""
    shifted = logits.astype(np.float64) - float(np.max(logits))
    return (shifted - np.log(np.sum(np.exp(shifted)))).astype(np.float32)


def top_indices(values: np.ndarray, n: int) -> list[int]:
    """Indices of the ``n`` largest values, largest first, ties in index order.

    Same result as a stable argsort of ``-values`` cut to ``n``, in linear time.
    """
    n = min(n, values.size)
    if n <= 0:
        return []
    threshold = np.partition(values, values.size - n)[values.size - n]
    above = np.flatnonzero(values > threshold)
    ties = np.flatnonzero(values == threshold)[: n - above.size]
    chosen = np.concatenate([above, ties])
    # lexsort sorts by the last key first: value descending, then index.
    return [int(i) for i in chosen[np.lexsort((chosen, -values[chosen]))]]


class LogprobsCollector:
    """Collects the ``logprobs`` object of a completion, token by token."""

    def __init__(self, llama: Llama, top_n: int, text_offset: int) -> None:
        self.llama = llama
        self.top_n = top_n
        self.text_offset = text_offset
        self.tokens: list[str] = []
        self.text_offsets: list[int] = []
        self.token_logprobs: list[float | None] = []
        self.top_logprobs: list[dict[str, float] | None] = []

    def add(self, token: int, piece: bytes, logits: np.ndarray | None) -> None:
        """Add a token; ``logits=None`` records it without a probability (the prompt's first)."""
        text = piece.decode("utf-8", errors="ignore")
        self.tokens.append(text)
        self.text_offsets.append(self.text_offset)
        self.text_offset += len(text)
        if logits is None:
            self.token_logprobs.append(None)
            self.top_logprobs.append(None)
            return
        logprobs = logits_to_logprobs(logits)
        top = {}
        for other in top_indices(logprobs, self.top_n):
            other_text = self.llama._piece(other).decode("utf-8", errors="ignore")
            top[other_text] = float(logprobs[other])
        top[text] = float(logprobs[token])
        self.token_logprobs.append(float(logprobs[token]))
        self.top_logprobs.append(top)

    def take(self, start: int, end: int) -> CompletionLogprobs:
        return {
            "tokens": self.tokens[start:end],
            "text_offset": self.text_offsets[start:end],
            "token_logprobs": self.token_logprobs[start:end],
            "top_logprobs": self.top_logprobs[start:end],
        }


def prompt_logits(llama: Llama, tokens: list[int]) -> Iterator[np.ndarray]:
    """Yield the logits after each of ``tokens[:-1]``: row ``i`` scores ``tokens[i + 1]``.

    The prompt is evaluated in ubatches of the session's ``n_ubatch`` in a
    context that lives for this call only, so the session's memory and the
    output of the generation that follows are untouched. The values are
    close to, not bit-identical with, the logits a generation step computes
    for the same position, because a batch that outputs every row runs the
    output layer with other kernels.
    """
    n_rows = len(tokens) - 1
    if n_rows <= 0:
        return
    target = llama.session.target
    n_ubatch = min(target.n_ubatch, n_rows)
    with (
        Context(
            llama.model,
            n_ctx=n_rows,
            n_batch=n_ubatch,
            n_ubatch=n_ubatch,
            **llama._context_options(),
        ) as ctx,
        Batch(n_ubatch) as batch,
    ):
        for start in range(0, n_rows, n_ubatch):
            chunk = tokens[start : min(start + n_ubatch, n_rows)]
            batch.clear()
            for offset, token in enumerate(chunk):
                batch.add(token, start + offset, logits=True)
            ctx.decode(batch)
            for i in range(len(chunk)):
                yield ctx.logits(i)
