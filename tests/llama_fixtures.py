"""Helpers shared by the drop-in Llama tests."""

from __future__ import annotations

N_CTX = 256
# Small batches so the prefix-reuse rule works on whole ubatches of a short prompt.
N_BATCH = 64
N_UBATCH = 16
OPTIONS = dict(n_ctx=N_CTX, n_batch=N_BATCH, n_ubatch=N_UBATCH, n_threads=1, verbose=False)

COMPLETION_KEYS = {"id", "object", "created", "model", "choices", "usage"}
CHUNK_KEYS = {"id", "object", "created", "model", "choices"}
CHOICE_KEYS = {"text", "index", "logprobs", "finish_reason"}


def text_of(response: dict) -> str:
    return response["choices"][0]["text"]


def joined(chunks) -> str:
    return "".join(chunk["choices"][0]["text"] for chunk in chunks)
