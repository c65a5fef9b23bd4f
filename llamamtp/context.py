"""``Context``: an inference context on a model (memory, decoding, logits, state)."""

from __future__ import annotations

import os

import numpy as np

from llamamtp._native import ffi, lib
from llamamtp._owner import NativeOwner
from llamamtp.batch import Batch
from llamamtp.errors import (
    LlamaError,
    check_decode,
    clear_native_error,
    with_native_error,
)
from llamamtp.model import Model

CONTEXT_TYPES = {"default": lib.LLAMA_CONTEXT_TYPE_DEFAULT, "mtp": lib.LLAMA_CONTEXT_TYPE_MTP}
FLASH_ATTN = {None: lib.LLAMA_FLASH_ATTN_TYPE_AUTO, True: lib.LLAMA_FLASH_ATTN_TYPE_ENABLED,
              False: lib.LLAMA_FLASH_ATTN_TYPE_DISABLED}  # fmt: skip


class Context(NativeOwner):
    """A llama.cpp context: its own memory (KV cache / recurrent state) on a shared model.

    ``n_rs_seq`` keeps that many recurrent-state snapshots per sequence so
    positions can be removed from hybrid models after a rejected draft.
    ``ctx_type="mtp"`` makes a context that runs the model's MTP block;
    ``ctx_other`` is then the target context it drafts for.
    ``n_threads=None`` uses llama.cpp's default (the number of cores, up to 4).
    """

    _kind = "context"

    def __init__(
        self,
        model: Model,
        *,
        n_ctx: int = 512,
        n_batch: int = 512,
        n_ubatch: int = 512,
        n_seq_max: int = 1,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        n_rs_seq: int = 0,
        n_outputs_max: int = 0,
        ctx_type: str = "default",
        ctx_other: Context | None = None,
        embeddings: bool = False,
        flash_attn: bool | None = None,
        type_k: int | None = None,
        type_v: int | None = None,
        offload_kqv: bool = True,
    ) -> None:
        for name, value in (("n_ctx", n_ctx), ("n_batch", n_batch), ("n_ubatch", n_ubatch),
                            ("n_seq_max", n_seq_max)):  # fmt: skip
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if n_rs_seq < 0:
            raise ValueError(f"n_rs_seq must be 0 or more, got {n_rs_seq}")
        # llama.cpp keeps the last n_rs_seq + 1 tokens of a batch in one ubatch
        # and aborts the process when a ubatch cannot hold them.
        if n_rs_seq > 0 and min(n_ubatch, n_batch) < n_rs_seq + 2:
            raise ValueError(
                f"n_rs_seq={n_rs_seq} needs n_batch and n_ubatch of at least {n_rs_seq + 2}, "
                f"got n_batch={n_batch}, n_ubatch={n_ubatch}; raise them or lower n_rs_seq"
            )
        if ctx_type not in CONTEXT_TYPES:
            raise ValueError(f"ctx_type must be one of {sorted(CONTEXT_TYPES)}, got {ctx_type!r}")
        if ctx_type == "mtp" and model.n_layer_nextn == 0:
            raise ValueError(
                f"model {str(model.path)!r} has no NextN (MTP) layers, so it cannot run "
                f"an MTP context; use a model with an MTP head"
            )
        if flash_attn not in FLASH_ATTN:
            raise ValueError(f"flash_attn must be True, False or None, got {flash_attn!r}")

        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = min(n_ubatch, n_batch)
        params.n_seq_max = n_seq_max
        params.n_rs_seq = n_rs_seq
        params.n_outputs_max = n_outputs_max
        if n_threads is not None:
            params.n_threads = n_threads
        if n_threads_batch is not None or n_threads is not None:
            params.n_threads_batch = n_threads_batch if n_threads_batch is not None else n_threads
        params.ctx_type = CONTEXT_TYPES[ctx_type]
        params.ctx_other = ctx_other.ptr if ctx_other is not None else ffi.NULL
        params.embeddings = embeddings
        params.flash_attn_type = FLASH_ATTN[flash_attn]
        params.offload_kqv = offload_kqv
        params.no_perf = True
        if type_k is not None:
            params.type_k = type_k
        if type_v is not None:
            params.type_v = type_v

        clear_native_error()
        ptr = lib.llama_init_from_model(model.ptr, params)
        if ptr == ffi.NULL:
            raise LlamaError(
                with_native_error(
                    f"llama_init_from_model failed for {str(model.path)!r} with n_ctx={n_ctx}, "
                    f"n_batch={n_batch}; try a smaller n_ctx or n_batch"
                )
            )
        keep_alive = (model,) if ctx_other is None else (model, ctx_other)
        self._own(ptr, lib.llama_free, *keep_alive)
        self.model = model
        model._adopt(self)
        if ctx_other is not None:
            ctx_other._adopt(self)
        self._n_vocab = model.n_vocab

    # Sizes

    @property
    def n_ctx(self) -> int:
        """Context length in tokens (may be rounded up from the requested size)."""
        return lib.llama_n_ctx(self.ptr)

    @property
    def n_batch(self) -> int:
        """Most tokens one decode call accepts."""
        return lib.llama_n_batch(self.ptr)

    @property
    def n_ubatch(self) -> int:
        """Most tokens one graph evaluation processes (a decode splits into ubatches)."""
        return lib.llama_n_ubatch(self.ptr)

    @property
    def n_rs_seq(self) -> int:
        """Recurrent-state snapshots kept per sequence for rolling back drafts."""
        return lib.llama_n_rs_seq(self.ptr)

    def set_n_threads(self, n_threads: int, n_threads_batch: int | None = None) -> None:
        """Threads for single-token decoding and for batches."""
        if n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads}")
        lib.llama_set_n_threads(self.ptr, n_threads, n_threads_batch or n_threads)

    # Decoding

    def decode(self, batch: Batch) -> None:
        """Run the model on a batch; raises on invalid input or a full context."""
        ptr = self.ptr
        c_batch = batch.ptr
        n_tokens = c_batch.n_tokens
        if n_tokens == 0:
            raise ValueError("cannot decode an empty batch; add tokens first")
        n_batch = lib.llama_n_batch(ptr)
        if n_tokens > n_batch:
            raise ValueError(
                f"batch of {n_tokens} tokens exceeds this context's n_batch={n_batch}; "
                f"split it or create the context with a larger n_batch"
            )
        for i in range(n_tokens):
            token = c_batch.token[i]
            if not 0 <= token < self._n_vocab:
                raise ValueError(
                    f"token id {token} at batch index {i} is outside the vocabulary "
                    f"[0, {self._n_vocab})"
                )
        clear_native_error()
        status = lib.llama_decode(ptr, c_batch)
        check_decode("llama_decode", status, n_tokens, lib.llama_n_ctx(ptr))

    def logits(self, i: int = -1) -> np.ndarray:
        """Return a copy of the logits of output row ``i`` of the last decode (-1 = last)."""
        ptr = self.ptr
        clear_native_error()
        row = lib.llama_get_logits_ith(ptr, i)
        if row == ffi.NULL:
            raise ValueError(
                with_native_error(
                    f"no logits for output index {i}; mark that token with logits=True "
                    f"in the batch you decode"
                )
            )
        buffer = ffi.buffer(row, self._n_vocab * ffi.sizeof("float"))
        return np.frombuffer(buffer, dtype=np.float32).copy()

    def embeddings(self, i: int = -1) -> np.ndarray:
        """Return a copy of the embedding of output row ``i`` (needs ``embeddings=True``)."""
        ptr = self.ptr
        clear_native_error()
        row = lib.llama_get_embeddings_ith(ptr, i)
        if row == ffi.NULL:
            raise ValueError(
                with_native_error(
                    f"no embedding for output index {i}; create the context with "
                    f"embeddings=True and decode first"
                )
            )
        n_embd = self.model.n_embd
        return np.frombuffer(ffi.buffer(row, n_embd * ffi.sizeof("float")), dtype=np.float32).copy()

    # Memory (KV cache and recurrent state)

    def seq_rm(self, seq_id: int = 0, p0: int = -1, p1: int = -1) -> bool:
        """Remove positions ``[p0, p1)`` of a sequence (-1 = open end); False if not possible."""
        return bool(lib.llama_memory_seq_rm(lib.llama_get_memory(self.ptr), seq_id, p0, p1))

    def seq_pos_max(self, seq_id: int = 0) -> int:
        """Largest position held for a sequence, -1 when it is empty."""
        return lib.llama_memory_seq_pos_max(lib.llama_get_memory(self.ptr), seq_id)

    def seq_pos_min(self, seq_id: int = 0) -> int:
        """Smallest position held for a sequence, -1 when it is empty."""
        return lib.llama_memory_seq_pos_min(lib.llama_get_memory(self.ptr), seq_id)

    def memory_clear(self, data: bool = True) -> None:
        """Forget every sequence (``data=True`` also zeroes the buffers)."""
        lib.llama_memory_clear(lib.llama_get_memory(self.ptr), data)

    # State

    def state_get(self) -> bytes:
        """Return the whole context state (memory, RNG, logits) as bytes."""
        ptr = self.ptr
        size = lib.llama_state_get_size(ptr)
        buf = ffi.new("uint8_t[]", size)
        written = lib.llama_state_get_data(ptr, buf, size)
        return ffi.unpack(ffi.cast("char *", buf), written)

    def state_set(self, state: bytes) -> None:
        """Restore a state from :meth:`state_get` on a context of the same model and size."""
        ptr = self.ptr
        clear_native_error()
        read = lib.llama_state_set_data(ptr, state, len(state))
        if read == 0:
            raise ValueError(
                with_native_error(
                    f"llama_state_set_data rejected a state of {len(state)} bytes; it must "
                    f"come from a context of the same model and n_ctx"
                )
            )

    def state_save_file(self, path: str | os.PathLike[str], tokens: list[int]) -> None:
        """Write the state and the tokens it contains to a session file."""
        c_tokens = ffi.new("llama_token[]", tokens)
        clear_native_error()
        if not lib.llama_state_save_file(self.ptr, os.fsencode(path), c_tokens, len(tokens)):
            raise OSError(with_native_error(f"llama_state_save_file failed for {str(path)!r}"))

    def state_load_file(self, path: str | os.PathLike[str]) -> list[int]:
        """Load a session file written by :meth:`state_save_file`; returns its tokens."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"session file not found: {str(path)!r}")
        capacity = self.n_ctx
        c_tokens = ffi.new("llama_token[]", capacity)
        n_loaded = ffi.new("size_t *")
        clear_native_error()
        if not lib.llama_state_load_file(self.ptr, os.fsencode(path), c_tokens, capacity, n_loaded):
            raise ValueError(
                with_native_error(
                    f"llama_state_load_file failed for {str(path)!r}: not a session file "
                    f"of this model and context size"
                )
            )
        return list(ffi.unpack(c_tokens, n_loaded[0]))
