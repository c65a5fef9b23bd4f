"""``Session``: one sequence decoded natively, with MTP drafting or plainly."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from llamamtp._native import ffi, lib
from llamamtp._owner import NativeOwner
from llamamtp.context import Context
from llamamtp.errors import ContextFullError, LlamaError, clear_native_error, native_error
from llamamtp.model import Model
from llamamtp.sampler import Sampler

# Maximum draft length of a session. Acceptance decays geometrically with the
# draft position, so drafts this long almost never pay for their verify rows.
MAX_DRAFT = lib.LLAMAMTP_MAX_DEPTH
# Default cap (draft_n_max) of the automatic depth.
DEFAULT_DRAFT_N_MAX = 4


@dataclass(frozen=True)
class SessionStats:
    """Counters of a session since it was created or :meth:`Session.reset_stats` ran.

    Attributes:
        n_prefill: prompt tokens decoded by prefill.
        n_steps: target passes that verified a draft (each yields at least one token).
        n_generated: tokens produced by those passes.
        n_drafted: draft tokens proposed by the MTP head.
        n_accepted: draft tokens the target accepted.
        t_prefill: seconds in prompt processing (MTP catch-up included).
        t_draft: seconds in MTP passes that produce drafts.
        t_verify: seconds in target passes over ``[pending, draft...]``.
        t_catchup: seconds in MTP passes that mirror a verify batch.
        t_sample: seconds sampling and accepting on the target's logits.
    """

    n_prefill: int
    n_steps: int
    n_generated: int
    n_drafted: int
    n_accepted: int
    t_prefill: float
    t_draft: float
    t_verify: float
    t_catchup: float
    t_sample: float

    @property
    def acceptance_rate(self) -> float:
        """Accepted draft tokens per drafted token (0.0 before any draft)."""
        return self.n_accepted / self.n_drafted if self.n_drafted else 0.0

    @property
    def mean_accepted_length(self) -> float:
        """Accepted draft tokens per step (0.0 before any step)."""
        return self.n_accepted / self.n_steps if self.n_steps else 0.0

    @property
    def tokens_per_step(self) -> float:
        """Generated tokens per target pass: 1.0 for plain decoding."""
        return self.n_generated / self.n_steps if self.n_steps else 0.0

    @property
    def t_generate(self) -> float:
        """Seconds spent generating (prefill excluded)."""
        return self.t_draft + self.t_verify + self.t_catchup + self.t_sample


@dataclass(frozen=True)
class Checkpoint:
    """A saved prompt state of a model with recurrent layers (see :meth:`Session.save_checkpoint`).

    Attributes:
        n_past: tokens decoded when it was saved; it resumes a sequence that
            starts with the same ``n_past`` tokens.
        size: bytes it takes: the target's recurrent state and the MTP
            context's input state.
    """

    n_past: int
    size: int


@dataclass(frozen=True)
class DepthStats:
    """Choices of the automatic draft depth and the estimates behind them.

    Attributes:
        last_depth: draft tokens of the last step (0 = a plain step).
        mtp_idle: True while the MTP context skips catch-up (depth 0).
        n_lag: positions waiting to be mirrored into the MTP context.
        histogram: number of steps at each depth, index = depth.
        acceptance: estimated P(draft position j+1 accepted | earlier ones were).
        expected_rate: estimated tokens per second at each depth.
        verify_seconds: a target pass over one token.
        verify_seconds_per_token: each extra token in a target pass over 2
            tokens. Until such a pass is timed, it is guessed from the other
            widths, or is a whole pass before any width is timed.
        draft_seconds_per_token: one MTP draft pass, at most ``verify_seconds``.
        catchup_seconds_per_token: mirroring one token into the MTP context.
        sample_seconds_per_token: sampling one position.
    """

    last_depth: int
    mtp_idle: bool
    n_lag: int
    histogram: tuple[int, ...]
    acceptance: tuple[float, ...]
    expected_rate: tuple[float, ...]
    verify_seconds: float
    verify_seconds_per_token: float
    draft_seconds_per_token: float
    catchup_seconds_per_token: float
    sample_seconds_per_token: float


class Session(NativeOwner):
    """Generate tokens for one sequence; the draft/verify loop runs natively.

    ``n_draft="auto"`` (the default) lets the session choose before each step
    how many tokens the model's MTP head drafts, from 0 (a plain step) to
    ``draft_n_max``, to maximize tokens per second as measured on this machine;
    on a model without an MTP head it decodes plainly. ``n_draft=k`` drafts
    ``k`` tokens per step, and ``n_draft=0`` decodes plainly through the same
    native loop, for comparisons. Either way the tokens are those plain
    decoding with the same sampler would produce.

    ``model`` is a path (the session loads and owns the model) or a
    :class:`Model` loaded with ``load_mtp=True`` (the caller keeps owning it).
    ``sampler`` defaults to greedy decoding; the session takes ownership of
    the chain it is given.
    """

    _kind = "session"

    def __init__(
        self,
        model: str | os.PathLike[str] | Model,
        *,
        n_draft: int | str = "auto",
        draft_n_max: int = DEFAULT_DRAFT_N_MAX,
        sampler: Sampler | None = None,
        n_ctx: int = 4096,
        n_batch: int = 512,
        n_ubatch: int = 512,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        n_gpu_layers: int = 0,
        flash_attn: bool | None = None,
    ) -> None:
        self.auto = n_draft == "auto"
        n_draft_max = draft_n_max if self.auto else n_draft
        if not self.auto and (isinstance(n_draft, bool) or not isinstance(n_draft, int)):
            raise ValueError(f"n_draft must be an int or 'auto', got {n_draft!r}")
        name = "draft_n_max" if self.auto else "n_draft"
        if not 0 <= n_draft_max <= MAX_DRAFT:
            raise ValueError(
                f"{name} must be between 0 (plain decoding) and {MAX_DRAFT}, got {n_draft_max}"
            )
        # A verify pass over n_draft + 1 tokens must fit one ubatch, and llama.cpp
        # needs one more position there to keep the recurrent-state snapshots.
        if n_draft_max > 0 and min(n_batch, n_ubatch) < n_draft_max + 2:
            raise ValueError(
                f"{name}={n_draft_max} needs n_batch and n_ubatch of at least "
                f"{n_draft_max + 2}, got n_batch={n_batch}, n_ubatch={n_ubatch}; raise them, "
                f"lower {name}, or use n_draft=0 for plain decoding"
            )

        self._owns_model = not isinstance(model, Model)
        if isinstance(model, Model):
            self.model = model
        else:
            self.model = Model(model, n_gpu_layers=n_gpu_layers, load_mtp=n_draft_max > 0)
        if self.auto and not (self.model.n_layer_nextn > 0 and self.model.load_mtp):
            # Without an MTP head the best depth is always 0.
            self.auto = False
            n_draft_max = 0
        try:
            self._open(n_draft_max, sampler, n_ctx, n_batch, n_ubatch, n_threads,
                       n_threads_batch, flash_attn)  # fmt: skip
        except BaseException:
            if self._owns_model:
                self.model.close()
            raise

    def _open(self, n_draft, sampler, n_ctx, n_batch, n_ubatch, n_threads, n_threads_batch,
              flash_attn) -> None:  # fmt: skip
        model = self.model
        if n_draft > 0 and model.n_layer_nextn == 0:
            raise ValueError(
                f"model {str(model.path)!r} has no NextN (MTP) layers, so it cannot draft; "
                f"use n_draft=0 for plain decoding or a model with an MTP head"
            )
        if n_draft > 0 and not model.load_mtp:
            raise ValueError(
                f"model {str(model.path)!r} was loaded without its MTP layers; "
                f"load it with Model(path, load_mtp=True) to draft"
            )

        common = dict(
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_ubatch=n_ubatch,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            flash_attn=flash_attn,
        )
        self.target = Context(model, n_rs_seq=n_draft, n_outputs_max=n_draft + 1, **common)
        self.mtp = None
        if n_draft > 0:
            self.mtp = Context(model, ctx_type="mtp", ctx_other=self.target, **common)

        self.sampler = sampler if sampler is not None else Sampler().greedy()
        # Most draft tokens per step: the fixed depth, or the automatic depth's cap.
        self.n_draft = n_draft
        self.vocab = model.vocab

        clear_native_error()
        mtp_ptr = self.mtp.ptr if self.mtp is not None else ffi.NULL
        ptr = lib.llamamtp_session_init(self.target.ptr, mtp_ptr, self.sampler.ptr, n_draft)
        if ptr == ffi.NULL:
            raise ValueError(f"could not create the session: {native_error()}")
        self._own(ptr, lib.llamamtp_session_free, self.target, self.mtp, self.sampler)
        # Closing any of these first closes the session, which points into them.
        for owner in (self.target, self.mtp, self.sampler):
            if owner is not None:
                owner._adopt(self)
        self._out = ffi.new("llama_token[]", MAX_DRAFT + 1)
        self.finish_reason: str | None = None

    def close(self) -> None:
        """Free the session, its contexts and sampler, and the model if the session loaded it."""
        super().close()
        for owner in (self.mtp, self.target, self.sampler):
            if owner is not None:
                owner.close()
        if self._owns_model:
            self.model.close()

    # State

    @property
    def n_past(self) -> int:
        """Tokens in the target's memory (the pending token excluded)."""
        return lib.llamamtp_session_n_past(self.ptr)

    @property
    def pending(self) -> int | None:
        """The last known token, decoded by the next step; None before the first prefill."""
        token = lib.llamamtp_session_pending(self.ptr)
        return None if token < 0 else token

    @property
    def n_ctx(self) -> int:
        return self.target.n_ctx

    @property
    def stats(self) -> SessionStats:
        """Counters and per-phase times since creation or :meth:`reset_stats`."""
        raw = ffi.new("struct llamamtp_stats *")
        lib.llamamtp_session_get_stats(self.ptr, raw)
        return SessionStats(
            n_prefill=raw.n_prefill,
            n_steps=raw.n_steps,
            n_generated=raw.n_generated,
            n_drafted=raw.n_drafted,
            n_accepted=raw.n_accepted,
            t_prefill=raw.t_prefill,
            t_draft=raw.t_draft,
            t_verify=raw.t_verify,
            t_catchup=raw.t_catchup,
            t_sample=raw.t_sample,
        )

    @property
    def tokens(self) -> list[int]:
        """Every token of the sequence: prompt and generated, the pending one included."""
        ptr = self.ptr
        n_tokens = lib.llamamtp_session_n_tokens(ptr)
        out = ffi.new("llama_token[]", max(1, n_tokens))
        return list(ffi.unpack(out, lib.llamamtp_session_tokens(ptr, out, n_tokens)))

    def rewind(self, n_keep: int) -> bool:
        """Keep the first ``n_keep`` tokens and forget the rest; False if memory cannot.

        Recurrent layers (Qwen3.5's Gated DeltaNet) keep only the last
        ``n_draft`` states, so rewinding further back returns False with the
        session unchanged; :meth:`load_checkpoint`, or :meth:`reset` and
        prefill again then.
        """
        ptr = self.ptr
        clear_native_error()
        status = lib.llamamtp_session_rewind(ptr, n_keep)
        if status == lib.LLAMAMTP_ERR_ROLLBACK:
            return False
        if status == lib.LLAMAMTP_ERR_INVALID:
            raise ValueError(f"rewind: {native_error()}")
        return True

    # Prompt checkpoints

    def save_checkpoint(self, n_max: int) -> None:
        """Save the state after the decoded tokens, keeping at most ``n_max`` checkpoints.

        Only for models with recurrent layers, whose memory cannot rewind more
        than a few positions (attention memory can, so other models raise
        ``ValueError``). A checkpoint at the same ``n_past`` is replaced and
        the oldest are dropped first. A checkpoint stays usable while the
        sequence keeps its first ``n_past`` tokens: :meth:`rewind` below
        them, :meth:`reset` or loading an earlier checkpoint drops it.
        """
        self._call("save_checkpoint", lib.llamamtp_session_save_checkpoint, n_max)

    @property
    def checkpoints(self) -> list[Checkpoint]:
        """The saved checkpoints, oldest first."""
        ptr = self.ptr
        count = lib.llamamtp_session_checkpoints(ptr, ffi.NULL, ffi.NULL, 0)
        if count == 0:
            return []
        n_past = ffi.new("int32_t[]", count)
        sizes = ffi.new("size_t[]", count)
        lib.llamamtp_session_checkpoints(ptr, n_past, sizes, count)
        return [Checkpoint(n_past[i], sizes[i]) for i in range(count)]

    def load_checkpoint(self, n_past: int, pending: int) -> None:
        """Go back to the checkpoint at ``n_past``, with ``pending`` as the next token.

        The sequence becomes its first ``n_past`` tokens plus ``pending``, as
        if they had been prefilled. Raises ``ValueError`` when no checkpoint
        has that ``n_past``.
        """
        self._call("load_checkpoint", lib.llamamtp_session_load_checkpoint, n_past, pending)

    def set_keep_logits(self, value: bool) -> None:
        """Keep the target's logits behind each token that :meth:`step` returns."""
        lib.llamamtp_session_set_keep_logits(self.ptr, value)

    def logits(self, i: int) -> np.ndarray:
        """Return a copy of the logits behind token ``i`` of the last step."""
        row = lib.llamamtp_session_logits(self.ptr, i)
        if row == ffi.NULL:
            raise ValueError(
                f"no logits for returned token {i}; call set_keep_logits(True) before the step "
                f"and use an index below the number of tokens it returned"
            )
        n_vocab = self.model.n_vocab
        return np.frombuffer(ffi.buffer(row, n_vocab * ffi.sizeof("float")), np.float32).copy()

    def reset(self) -> None:
        """Forget every token (statistics and sampler state stay)."""
        lib.llamamtp_session_reset(self.ptr)
        self.finish_reason = None

    @property
    def depth_stats(self) -> DepthStats | None:
        """The automatic depth's choices and estimates; None unless ``n_draft="auto"``."""
        if not self.auto:
            return None
        raw = ffi.new("struct llamamtp_depth_stats *")
        lib.llamamtp_session_get_depth_stats(self.ptr, raw)
        n = self.n_draft
        return DepthStats(
            last_depth=raw.last_depth,
            mtp_idle=bool(raw.mtp_idle),
            n_lag=raw.n_lag,
            histogram=tuple(raw.histogram[0 : n + 1]),
            acceptance=tuple(raw.acceptance[0:n]),
            expected_rate=tuple(raw.expected_rate[0 : n + 1]),
            verify_seconds=raw.verify_seconds_1,
            verify_seconds_per_token=raw.verify_seconds_per_token,
            draft_seconds_per_token=raw.draft_seconds_per_token,
            catchup_seconds_per_token=raw.catchup_seconds_per_token,
            sample_seconds_per_token=raw.sample_seconds_per_token,
        )

    def reset_stats(self) -> None:
        lib.llamamtp_session_reset_stats(self.ptr)

    # The loop, one call at a time

    def prefill(self, tokens: Sequence[int]) -> None:
        """Append tokens: all but the last are decoded now, the last becomes pending."""
        tokens = list(tokens)
        if not tokens:
            raise ValueError("prefill needs at least one token")
        used = self.n_past + (self.pending is not None)
        if used + len(tokens) > self.n_ctx:
            raise ValueError(
                f"prompt of {len(tokens)} tokens does not fit in n_ctx={self.n_ctx} "
                f"({used} already used); shorten it or create the session with a larger n_ctx"
            )
        c_tokens = ffi.new("llama_token[]", tokens)
        self._call("prefill", lib.llamamtp_session_prefill, c_tokens, len(tokens))

    def draft(self, n_draft: int | None = None) -> list[int]:
        """Draft up to ``n_draft`` tokens (default: the session's) after the pending token."""
        n_draft = self._n_draft(n_draft)
        count = self._call("draft", lib.llamamtp_session_draft, n_draft, self._out)
        return list(ffi.unpack(self._out, count))

    def verify(self, draft: Sequence[int]) -> list[int]:
        """Verify a draft; returns the accepted draft tokens plus the target's next token."""
        draft = list(draft)
        self._n_draft(len(draft))
        c_draft = ffi.new("llama_token[]", draft) if draft else ffi.NULL
        count = self._call("verify", lib.llamamtp_session_verify, c_draft, len(draft), self._out)
        return list(ffi.unpack(self._out, count))

    def step(self, n_draft: int | None = None, max_tokens: int = MAX_DRAFT + 1) -> list[int]:
        """Draft and verify in one native call; returns 1 to ``max_tokens`` new tokens.

        ``n_draft=None`` uses the session's setting: the automatic depth when
        the session was made with ``n_draft="auto"``.
        """
        n_draft = self._n_draft(n_draft, allow_auto=True)
        max_tokens = max(1, min(max_tokens, MAX_DRAFT + 1))
        count = self._call("step", lib.llamamtp_session_step, n_draft, max_tokens, self._out)
        return list(ffi.unpack(self._out, count))

    # The loop as a generator

    def generate(
        self,
        prompt: Sequence[int] | None = None,
        max_tokens: int | None = 256,
        n_draft: int | None = None,
    ) -> Iterator[int]:
        """Yield generated tokens as steps produce them.

        ``prompt`` is prefilled first when given. Generation ends after an
        end-of-generation token (``finish_reason == "stop"``), after
        ``max_tokens`` tokens or when the context is full (``"length"``).
        ``max_tokens=None`` generates until one of the others.
        """
        if max_tokens is not None and max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0 or None, got {max_tokens}")
        if prompt is not None:
            self.prefill(prompt)
        self.finish_reason = None
        n_generated = 0
        while max_tokens is None or n_generated < max_tokens:
            budget = MAX_DRAFT + 1 if max_tokens is None else max_tokens - n_generated
            try:
                tokens = self.step(n_draft, budget)
            except ContextFullError:
                break
            for token in tokens:
                n_generated += 1
                yield token
                if self.vocab.is_eog(token):
                    self.finish_reason = "stop"
                    return
        self.finish_reason = "length"

    # Helpers

    def _n_draft(self, n_draft: int | None, allow_auto: bool = False) -> int:
        if n_draft is None:
            if self.auto and allow_auto:
                return lib.LLAMAMTP_DRAFT_AUTO
            return self.n_draft
        if not 0 <= n_draft <= self.n_draft:
            raise ValueError(
                f"n_draft must be between 0 and this session's n_draft={self.n_draft}, "
                f"got {n_draft}"
            )
        return n_draft

    def _call(self, call: str, function, *args) -> int:
        """Run a native session call and turn a negative status into an exception."""
        ptr = self.ptr
        clear_native_error()
        status = function(ptr, *args)
        if status >= 0:
            return status
        message = native_error() or f"{call} failed with status {status}"
        if status in (lib.LLAMAMTP_ERR_INVALID, lib.LLAMAMTP_ERR_SAMPLE):
            raise ValueError(f"{call}: {message}")
        if status == lib.LLAMAMTP_ERR_CONTEXT_FULL:
            raise ContextFullError(f"{call}: {message}")
        # Decode and rollback failures leave memory out of step with the tokens.
        lib.llamamtp_session_reset(self.ptr)
        raise LlamaError(f"{call}: {message}; the session was reset, prefill it again")
