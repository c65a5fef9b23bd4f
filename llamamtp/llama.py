"""``Llama``: llama-cpp-python's high-level class, with MTP drafting.

Change ``from llama_cpp import Llama`` to ``from llamamtp import Llama``: the
constructor, completion, chat, tokenizer and state methods keep their names,
arguments and return shapes. Generation runs through a :class:`Session`, so a
model with an MTP head drafts tokens and verifies them natively.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

from llamamtp import chat as _chat
from llamamtp import completion as _completion
from llamamtp._chain import SamplerSlot, SamplingParams, build_chain
from llamamtp._log import set_verbose
from llamamtp.context import Context
from llamamtp.errors import ContextFullError
from llamamtp.llama_cache import BaseLlamaCache, LlamaState
from llamamtp.llama_grammar import LlamaGrammar
from llamamtp.llama_types import CreateCompletionResponse, CreateEmbeddingResponse
from llamamtp.model import Model
from llamamtp.prefix_reuse import DEFAULT_N_CTX_CHECKPOINTS, PrefixReuse, common_prefix
from llamamtp.processors import LogitsProcessorList, StoppingCriteriaList
from llamamtp.prompt import completion_prompt
from llamamtp.sampler import DEFAULT_SEED
from llamamtp.session import MAX_DRAFT, Session, SessionStats

DEFAULT_DRAFT_N_MAX = 3
PREFIX_REUSE_MODES = ("exact", "longest", None)

# Constructor arguments of llama-cpp-python that llamamtp accepts only at
# their default value: anything else raises NotImplementedError naming them.
_DEFAULT_ONLY: dict[str, Any] = {
    "split_mode": 1,
    "tensor_split": None,
    "rpc_servers": None,
    "kv_overrides": None,
    "rope_scaling_type": -1,
    "pooling_type": -1,
    "rope_freq_base": 0.0,
    "rope_freq_scale": 0.0,
    "yarn_ext_factor": -1.0,
    "yarn_attn_factor": 1.0,
    "yarn_beta_fast": 32.0,
    "yarn_beta_slow": 1.0,
    "yarn_orig_ctx": 0,
    "offload_kqv": True,
    "op_offload": None,
    "swa_full": None,
    "lora_base": None,
    "lora_scale": 1.0,
    "lora_path": None,
    "numa": False,
    "chat_handler": None,
    "draft_model": None,
    "tokenizer": None,
    "type_k": None,
    "type_v": None,
}


def _draft_settings(draft: str | None, draft_n_max: int, model: Model) -> int | str:
    """Return the session's ``n_draft`` ("auto" or a depth) for the ``draft`` argument."""
    if not isinstance(draft_n_max, int) or not 1 <= draft_n_max <= MAX_DRAFT:
        raise ValueError(f"draft_n_max must be an int in [1, {MAX_DRAFT}], got {draft_n_max!r}")
    if draft is None:
        return 0
    if draft == "auto":
        # The session picks each step's depth, 0 included, up to draft_n_max.
        return "auto" if model.n_layer_nextn > 0 else 0
    if draft == "mtp":
        if model.n_layer_nextn == 0:
            raise ValueError(
                f"draft='mtp' needs a model with an MTP (NextN) head, and {str(model.path)!r} "
                f"has none; use draft=None or draft='auto'"
            )
        return draft_n_max
    raise ValueError(f"draft must be 'auto', 'mtp' or None, got {draft!r}")


class Llama:
    """A GGUF model ready for completions and chat, with MTP drafting when the model has a head.

    Arguments keep llama-cpp-python's names and defaults. llamamtp adds:

    - ``draft``: ``"auto"`` (default) drafts with the model's MTP head when it
      has one and decodes plainly otherwise; ``"mtp"`` requires the head;
      ``None`` turns drafting off.
    - ``draft_n_max``: the most tokens drafted per step (default 3).
    - ``prefix_reuse``: how much of the previous sequence a new prompt reuses.
      ``"exact"`` (default) reuses only positions whose evaluation a fresh
      prompt would repeat bit for bit, so output never depends on earlier
      calls; ``"longest"`` reuses the longest common prefix, which is faster
      but can change logits slightly; ``None`` always starts over.
    - ``n_ctx_checkpoints``: the most prompt checkpoints kept on models with
      recurrent layers (Qwen3.5), whose memory cannot rewind by more than a
      few tokens; a new prompt resumes from the latest one it shares
      (default 4, 0 for none). Each contains the recurrent state: about
      19 MiB for the 0.8B preset of :mod:`llamamtp.synthetic` and 50 MiB
      for its 4B preset.

    ``verbose`` routes llama.cpp's log to ``logging``; it is process-wide.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        n_gpu_layers: int = 0,
        split_mode: int = 1,
        main_gpu: int = 0,
        tensor_split: list[float] | None = None,
        rpc_servers: str | None = None,
        vocab_only: bool = False,
        use_mmap: bool = True,
        use_mlock: bool = False,
        kv_overrides: dict[str, Any] | None = None,
        seed: int = DEFAULT_SEED,
        n_ctx: int = 512,
        n_batch: int = 512,
        n_ubatch: int = 512,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        rope_scaling_type: int | None = -1,
        pooling_type: int = -1,
        rope_freq_base: float = 0.0,
        rope_freq_scale: float = 0.0,
        yarn_ext_factor: float = -1.0,
        yarn_attn_factor: float = 1.0,
        yarn_beta_fast: float = 32.0,
        yarn_beta_slow: float = 1.0,
        yarn_orig_ctx: int = 0,
        logits_all: bool = False,
        embedding: bool = False,
        offload_kqv: bool = True,
        flash_attn: bool = False,
        op_offload: bool | None = None,
        swa_full: bool | None = None,
        no_perf: bool = False,
        last_n_tokens_size: int = 64,
        lora_base: str | None = None,
        lora_scale: float = 1.0,
        lora_path: str | None = None,
        numa: bool | int = False,
        chat_format: str | None = None,
        chat_handler: Any = None,
        draft_model: Any = None,
        tokenizer: Any = None,
        type_k: int | None = None,
        type_v: int | None = None,
        spm_infill: bool = False,
        verbose: bool = True,
        draft: Literal["auto", "mtp"] | None = "auto",
        draft_n_max: int = DEFAULT_DRAFT_N_MAX,
        prefix_reuse: Literal["exact", "longest"] | None = "exact",
        n_ctx_checkpoints: int = DEFAULT_N_CTX_CHECKPOINTS,
    ) -> None:
        given = dict(locals())
        unsupported = [name for name, default in _DEFAULT_ONLY.items() if given[name] != default]
        if unsupported:
            raise NotImplementedError(
                f"llamamtp's Llama does not support {', '.join(unsupported)}; "
                f"leave {'it' if len(unsupported) == 1 else 'them'} at the default"
            )
        if prefix_reuse not in PREFIX_REUSE_MODES:
            raise ValueError(
                f"prefix_reuse must be 'exact', 'longest' or None, got {prefix_reuse!r}"
            )
        if isinstance(n_ctx_checkpoints, bool) or not isinstance(n_ctx_checkpoints, int) \
                or n_ctx_checkpoints < 0:  # fmt: skip
            raise ValueError(
                f"n_ctx_checkpoints must be an int >= 0 (0 keeps none), got {n_ctx_checkpoints!r}"
            )
        if not isinstance(n_ctx, int) or n_ctx < 0:
            raise ValueError(
                f"n_ctx must be 0 (the model's training context) or more, got {n_ctx!r}"
            )
        if last_n_tokens_size < 0:
            raise ValueError(f"last_n_tokens_size must be 0 or more, got {last_n_tokens_size}")
        if seed == -1:
            # llama-cpp-python's "-1 for random": LLAMA_DEFAULT_SEED as a signed int.
            seed = DEFAULT_SEED
        if not 0 <= seed <= 0xFFFFFFFF:
            raise ValueError(f"seed must be in [0, 2**32 - 1], or -1 for random, got {seed}")

        self.verbose = verbose
        set_verbose(verbose)
        self.model_path = os.fspath(model_path)
        # Everything needed to rebuild this object, for pickling.
        self._init_args = {k: v for k, v in given.items() if k not in ("self", "model_path")}

        self._model = Model(
            model_path,
            n_gpu_layers=n_gpu_layers,
            main_gpu=main_gpu,
            vocab_only=vocab_only,
            use_mmap=use_mmap,
            use_mlock=use_mlock,
            load_mtp=draft is not None and not vocab_only,
        )
        self._session: Session | None = None
        self._prefix = PrefixReuse(n_ctx_checkpoints)
        self._embedding_ctx: Context | None = None
        try:
            self.metadata: dict[str, str] = self._model.metadata
            n_draft = 0 if vocab_only else _draft_settings(draft, draft_n_max, self._model)
            # Maximum draft tokens per step: the fixed depth or the automatic depth's cap.
            self.n_draft = 0
            if not vocab_only:
                self._slot = SamplerSlot()
                self._session = Session(
                    self._model,
                    n_draft=n_draft,
                    draft_n_max=draft_n_max,
                    sampler=self._slot.sampler,
                    n_ctx=n_ctx or self._model.n_ctx_train,
                    n_batch=n_batch,
                    n_ubatch=n_ubatch,
                    n_threads=n_threads,
                    n_threads_batch=n_threads_batch,
                    flash_attn=flash_attn,
                )
                self.n_draft = self._session.n_draft
            self.chat_format = _chat.resolve_chat_format(chat_format, self)
        except BaseException:
            self.close()
            raise

        self._seed = seed
        self._seeds = random.Random(None if seed == DEFAULT_SEED else seed)
        self.last_n_tokens_size = last_n_tokens_size
        self.logits_all = logits_all
        self.embedding = embedding
        self.spm_infill = spm_infill
        self.draft = draft
        self.draft_n_max = draft_n_max
        self.prefix_reuse = prefix_reuse
        self.cache: BaseLlamaCache | None = None
        self._finish_reason: str | None = None
        # Leading positions of the session written by a prompt prefill that
        # started on a ubatch boundary: a fresh prefill recomputes them identically.
        self._n_prefilled = 0
        self._sampled: int | None = None

    # Lifetime

    def close(self) -> None:
        """Free the contexts and the model. Idempotent."""
        for owner in (getattr(self, "_embedding_ctx", None), getattr(self, "_session", None),
                      getattr(self, "_model", None)):  # fmt: skip
            if owner is not None:
                owner.close()

    def __enter__(self) -> Llama:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"model_path": self.model_path, **self._init_args}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.__init__(state.pop("model_path"), **state)

    # Sizes and metadata

    @property
    def session(self) -> Session:
        """The native session that contains the sequence (raises for vocab_only models)."""
        if self._session is None:
            raise ValueError(
                "this Llama was loaded with vocab_only=True, so it can only tokenize; "
                "load it without vocab_only to generate"
            )
        return self._session

    @property
    def model(self) -> Model:
        """The loaded :class:`~llamamtp.Model`."""
        return self._model

    def n_ctx(self) -> int:
        """Context length in tokens."""
        return self.session.n_ctx

    def n_vocab(self) -> int:
        """Number of tokens in the vocabulary."""
        return self._model.n_vocab

    def n_embd(self) -> int:
        """Width of the model's hidden state."""
        return self._model.n_embd

    @property
    def n_tokens(self) -> int:
        """Tokens in the current sequence (prompt and generated).

        A token returned by :meth:`sample` counts once it is passed to
        :meth:`eval`, as in llama-cpp-python.
        """
        if self._session is None:
            return 0
        return len(self.session.tokens) - (self._sampled is not None)

    @property
    def input_ids(self) -> np.ndarray:
        """The current sequence as an array of token ids."""
        return np.asarray(self.session.tokens[: self.n_tokens], dtype=np.intc)

    def token_bos(self) -> int:
        return self._model.vocab.bos

    def token_eos(self) -> int:
        return self._model.vocab.eos

    def token_nl(self) -> int:
        return self._model.vocab.nl

    # Tokenizer

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        """Split UTF-8 bytes into token ids; ``add_bos`` adds BOS when the model uses one."""
        if isinstance(text, str):
            raise TypeError(
                "tokenize takes bytes, as in llama-cpp-python; pass text.encode('utf-8')"
            )
        return self._model.vocab.tokenize(bytes(text), add_special=add_bos, parse_special=special)

    def detokenize(
        self, tokens: Sequence[int], prev_tokens: Sequence[int] | None = None, special: bool = False
    ) -> bytes:
        """Join token ids into bytes; with ``prev_tokens``, the bytes they add after those."""
        vocab = self._model.vocab
        tokens = list(tokens)
        if prev_tokens is None:
            return vocab.detokenize(tokens, unparse_special=special)
        prev = list(prev_tokens)
        whole = vocab.detokenize(prev + tokens, unparse_special=special)
        return whole[len(vocab.detokenize(prev, unparse_special=special)) :]

    def tokenizer(self) -> LlamaTokenizer:
        """A tokenizer object with ``encode``/``decode``, as llama-cpp-python returns."""
        return LlamaTokenizer(self)

    def _piece(self, token: int) -> bytes:
        return self._model.vocab.token_to_piece(token)

    # Sequence state

    def reset(self) -> None:
        """Forget the current sequence."""
        self.session.reset()
        self._n_prefilled = 0
        self._sampled = None

    def set_seed(self, seed: int) -> None:
        """Set the seed that later calls without ``seed`` derive theirs from."""
        self._seed = seed
        self._seeds = random.Random(seed)

    def set_cache(self, cache: BaseLlamaCache | None) -> None:
        """Save the state after each completion in ``cache`` and restore from it by prefix."""
        self.cache = cache

    def save_state(self) -> LlamaState:
        """Snapshot the sequence and both contexts' memory."""
        session = self.session
        n_embd = _session_n_embd(session)
        pending_h = np.zeros(n_embd, dtype=np.float32)
        if n_embd:
            _session_get_pending_h(session, pending_h)
        return LlamaState(
            input_ids=np.asarray(session.tokens, dtype=np.intc),
            target_state=session.target.state_get(),
            mtp_state=session.mtp.state_get() if session.mtp is not None else b"",
            pending_h=pending_h,
            n_prefilled=self._n_prefilled,
            seed=self._seed,
            n_draft=self.n_draft,
        )

    def load_state(self, state: LlamaState) -> None:
        """Restore a snapshot from :meth:`save_state` of a Llama with the same model and options."""
        session = self.session
        if state.n_draft != self.n_draft:
            raise ValueError(
                f"the state was saved with n_draft={state.n_draft} and this Llama drafts "
                f"{self.n_draft}; load it into a Llama created with the same draft settings"
            )
        session.target.state_set(state.target_state)
        if session.mtp is not None:
            session.mtp.state_set(state.mtp_state)
        _session_restore(session, [int(t) for t in state.input_ids], state.pending_h)
        self._n_prefilled = state.n_prefilled
        self._seed = state.seed
        self._sampled = None

    def _load_prompt(self, tokens: list[int], sampling: SamplingParams | None = None) -> int:
        """Make ``tokens`` the sequence, reusing what the prefix rule allows; returns the reuse."""
        session = self.session
        if self.cache is not None:
            self._restore_from_cache(tokens)
        if sampling is not None:
            self._slot.set(build_chain(sampling, self._model, tokens))
        self._sampled = None

        n_keep = self._prefix.load(session, tokens, self.prefix_reuse, self._n_prefilled)
        self._n_prefilled = len(tokens) - 1
        return max(n_keep - 1, 0)

    def _restore_from_cache(self, tokens: list[int]) -> None:
        try:
            state = self.cache[tokens]
        except KeyError:
            return
        cached = common_prefix(list(state.input_ids), tokens)
        current = common_prefix(self.session.tokens, tokens)
        if cached > current:
            self.load_state(state)

    def _context_options(self) -> dict[str, Any]:
        """Threads and attention options for contexts other than the session's."""
        names = ("n_threads", "n_threads_batch", "flash_attn")
        return {name: self._init_args[name] for name in names}

    def _session_stats(self) -> SessionStats:
        return self.session.stats

    def _generate_tokens(
        self, sampling: SamplingParams, max_tokens: int | None, keep_logits: bool = False
    ) -> Iterator[tuple[int, np.ndarray | None]]:
        """Yield (token, logits or None) as steps produce them; sets ``_finish_reason``."""
        session = self.session
        session.set_keep_logits(keep_logits)
        self._finish_reason = None
        n_generated = 0
        while max_tokens is None or n_generated < max_tokens:
            budget = MAX_DRAFT + 1 if max_tokens is None else max_tokens - n_generated
            try:
                tokens = session.step(None, budget)
            except ContextFullError:
                self._finish_reason = "length"
                return
            except ValueError:
                # A sampling failure leaves decoded positions behind; start over next time.
                self.reset()
                for python_sampler in sampling.python_samplers:
                    python_sampler.raise_error()
                raise
            rows = [session.logits(i) if keep_logits else None for i in range(len(tokens))]
            for token, row in zip(tokens, rows, strict=False):
                n_generated += 1
                yield token, row
                if self._model.vocab.is_eog(token):
                    self._finish_reason = "stop"
                    return
        self._finish_reason = "length"

    # Completion

    def create_completion(
        self,
        prompt: str | list[int],
        suffix: str | None = None,
        max_tokens: int | None = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        logprobs: int | None = None,
        echo: bool = False,
        stop: str | list[str] | None = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        top_k: int = 40,
        stream: bool = False,
        seed: int | None = None,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: str | None = None,
        stopping_criteria: StoppingCriteriaList | None = None,
        logits_processor: LogitsProcessorList | None = None,
        grammar: LlamaGrammar | None = None,
        logit_bias: dict[int, float] | None = None,
    ) -> CreateCompletionResponse | Iterator[CreateCompletionResponse]:
        """Complete a prompt (text or token ids); ``stream=True`` returns an iterator of chunks.

        With ``suffix``, the model fills in the text between the prompt and
        the suffix, using its fill-in-the-middle tokens (see :mod:`llamamtp.prompt`).
        """
        if suffix is not None and not isinstance(suffix, str):
            raise TypeError(f"suffix must be a string or None, got {type(suffix).__name__}")
        if suffix is not None and echo and logprobs is not None:
            raise NotImplementedError(
                "logprobs with echo=True and a suffix is not supported: the evaluated prompt "
                "holds FIM tokens and the suffix, which the echoed text leaves out; drop echo "
                "or logprobs"
            )
        if tfs_z != 1.0:
            raise NotImplementedError(
                "tfs_z is not supported (this llama.cpp has no tail-free sampler); leave it at 1.0"
            )
        if logprobs is not None and (not isinstance(logprobs, int) or logprobs < 0):
            raise ValueError(f"logprobs must be None or an int >= 0, got {logprobs!r}")

        prompt_text, prompt_tokens = completion_prompt(
            self._model.vocab, self.model_path, prompt, suffix, self.spm_infill
        )
        n_ctx = self.n_ctx()
        if len(prompt_tokens) >= n_ctx:
            raise ValueError(
                f"Requested tokens ({len(prompt_tokens)}) exceed context window of {n_ctx}; "
                f"shorten the prompt or create the Llama with a larger n_ctx"
            )
        request = _completion.CompletionRequest(
            prompt_text=prompt_text,
            prompt_tokens=prompt_tokens,
            max_tokens=_completion.clamp_max_tokens(max_tokens, len(prompt_tokens), n_ctx),
            stop=_completion.normalize_stop(stop),
            echo=echo,
            logprobs=logprobs,
            sampling=SamplingParams(
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                min_p=min_p,
                typical_p=typical_p,
                repeat_penalty=repeat_penalty,
                frequency_penalty=frequency_penalty,
                presence_penalty=presence_penalty,
                penalty_last_n=self.last_n_tokens_size,
                mirostat_mode=mirostat_mode,
                mirostat_tau=mirostat_tau,
                mirostat_eta=mirostat_eta,
                seed=self._request_seed(seed),
                logit_bias=logit_bias,
                grammar=grammar,
                logits_processor=logits_processor,
            ),
            stopping_criteria=stopping_criteria,
            model_name=model if model is not None else self.model_path,
        )
        request.sampling.check()
        chunks = self._stream_and_cache(request)
        if stream:
            return _strip_usage(chunks)
        return _completion.join_chunks(chunks)

    def __call__(self, prompt: str | list[int], **kwargs: Any):
        """Same as :meth:`create_completion`."""
        return self.create_completion(prompt, **kwargs)

    def _stream_and_cache(self, request: _completion.CompletionRequest):
        yield from _completion.stream_completion(self, request)
        if self.cache is not None:
            self.cache[self.session.tokens] = self.save_state()

    def _request_seed(self, seed: int | None) -> int:
        if seed is None:
            return self._seeds.randint(0, 0xFFFFFFFE)
        if seed == -1:
            # llama.cpp draws a random seed for LLAMA_DEFAULT_SEED.
            return DEFAULT_SEED
        if not isinstance(seed, int) or not 0 <= seed <= 0xFFFFFFFF:
            raise ValueError(
                f"seed must be an int in [0, 2**32 - 1], or -1 for random, got {seed!r}"
            )
        return seed

    # Chat

    def create_chat_completion(self, messages: list[dict[str, Any]], **kwargs: Any):
        """Generate the assistant's reply to ``messages``; see :mod:`llamamtp.chat`."""
        return _chat.create_chat_completion(self, messages, **kwargs)

    def create_chat_completion_openai_v1(self, *args: Any, **kwargs: Any):
        """:meth:`create_chat_completion`, returning ``openai`` package objects."""
        return _chat.create_chat_completion_openai_v1(self, *args, **kwargs)

    # Low-level generation

    def generate(
        self,
        tokens: Sequence[int],
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        temp: float = 0.80,
        repeat_penalty: float = 1.0,
        reset: bool = True,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        penalize_nl: bool = True,
        logits_processor: LogitsProcessorList | None = None,
        stopping_criteria: StoppingCriteriaList | None = None,
        grammar: LlamaGrammar | None = None,
    ) -> Iterator[int]:
        """Yield tokens after ``tokens`` until the caller stops or the context is full.

        End-of-generation tokens are yielded too, as in llama-cpp-python; with
        ``reset=False`` the tokens continue the current sequence.
        """
        if tfs_z != 1.0:
            raise NotImplementedError(
                "tfs_z is not supported (this llama.cpp has no tail-free sampler); leave it at 1.0"
            )
        sampling = SamplingParams(
            temperature=temp, top_k=top_k, top_p=top_p, min_p=min_p, typical_p=typical_p,
            repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty, penalty_last_n=self.last_n_tokens_size,
            mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau, mirostat_eta=mirostat_eta,
            seed=self._request_seed(None if self._seed == DEFAULT_SEED else self._seed),
            grammar=grammar, logits_processor=logits_processor,
        )  # fmt: skip
        tokens = [int(t) for t in tokens]
        if reset:
            self._load_prompt(tokens, sampling)
        else:
            self._slot.set(build_chain(sampling, self._model, self.session.tokens + tokens))
            self.eval(tokens)
        history = self.session.tokens
        while True:
            for token, logits in self._generate_tokens(
                sampling, None, keep_logits=stopping_criteria is not None
            ):
                history.append(token)
                if stopping_criteria is not None and stopping_criteria(
                    np.asarray(history, dtype=np.intc), logits
                ):
                    return
                yield token
            if self._finish_reason == "length":
                return

    def eval(self, tokens: Sequence[int]) -> None:
        """Append tokens to the sequence (the last is decoded by the next :meth:`sample`)."""
        tokens = [int(t) for t in tokens]
        if not tokens:
            return
        session = self.session
        if self._sampled is not None:
            # sample() already appended its token; evaluating it again would repeat it.
            if tokens[0] == self._sampled:
                tokens = tokens[1:]
            else:
                self._truncate(len(session.tokens) - 1)
            self._sampled = None
        if not tokens:
            return
        if session.pending is None:
            self._n_prefilled = len(tokens) - 1
        session.prefill(tokens)

    def sample(
        self,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        temp: float = 0.80,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_eta: float = 0.1,
        mirostat_tau: float = 5.0,
        penalize_nl: bool = True,
        logits_processor: LogitsProcessorList | None = None,
        grammar: LlamaGrammar | None = None,
        idx: int | None = None,
    ) -> int:
        """Sample the token after the evaluated ones (pass it to :meth:`eval` next).

        ``idx`` samples after position ``idx`` of the sequence instead (0 to
        ``n_tokens - 1``), as llama-cpp-python's ``logits_all`` mode allows.
        Either way the sequence stays as it was: calling ``sample`` again
        samples the same position again.
        """
        session = self.session
        if session.pending is None:
            raise ValueError("nothing to sample from: call eval(tokens) first")
        if self._sampled is not None:
            # Sampling again without eval() samples the same position again.
            self._truncate(len(session.tokens) - 1)
            self._sampled = None
        tokens = session.tokens
        last = len(tokens) - 1
        is_position = (
            isinstance(idx, (int, np.integer)) and not isinstance(idx, bool) and 0 <= idx <= last
        )
        if idx is not None and not is_position:
            raise ValueError(
                f"idx must be a position of the evaluated sequence, 0 to {last}, got {idx!r}"
            )
        sampling = SamplingParams(
            temperature=temp, top_k=top_k, top_p=top_p, min_p=min_p, typical_p=typical_p,
            repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty, penalty_last_n=self.last_n_tokens_size,
            mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau, mirostat_eta=mirostat_eta,
            seed=self._request_seed(None if self._seed == DEFAULT_SEED else self._seed),
            grammar=grammar, logits_processor=logits_processor,
        )  # fmt: skip
        if idx is None or idx == last:
            self._slot.set(build_chain(sampling, self._model, tokens))
            token = next(iter(self._generate_tokens(sampling, 1)))[0]
            self._sampled = token
            return token

        # Make tokens[idx] the pending token, sample after it, then evaluate
        # the rest of the sequence again.
        idx = int(idx)
        self._slot.set(build_chain(sampling, self._model, tokens[: idx + 1]))
        self._truncate(idx + 1)
        token = next(iter(self._generate_tokens(sampling, 1)))[0]
        self._truncate(idx + 1)
        session.prefill(tokens[idx + 1 :])
        # Positions from idx on were evaluated in other batches than a fresh prompt's.
        self._n_prefilled = min(self._n_prefilled, idx)
        return token

    def _truncate(self, n_keep: int) -> None:
        """Keep the first ``n_keep`` tokens (the last one pending), evaluating again if needed."""
        session = self.session
        if session.rewind(n_keep):
            return
        history = session.tokens[:n_keep]
        session.reset()
        session.prefill(history)

    # Embeddings

    def create_embedding(
        self, input: str | list[str], model: str | None = None
    ) -> CreateEmbeddingResponse:
        """Embed one text or a list of texts (needs ``embedding=True``)."""
        texts = [input] if isinstance(input, str) else list(input)
        data = []
        n_tokens = 0
        for index, text in enumerate(texts):
            vector, count = self._embed_one(text)
            n_tokens += count
            data.append({"object": "embedding", "embedding": vector, "index": index})
        return {
            "object": "list",
            "data": data,
            "model": model if model is not None else self.model_path,
            "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
        }

    def embed(
        self, input: str | list[str], normalize: bool = False
    ) -> list[float] | list[list[float]]:
        """Embedding vectors: one list for a string, a list of lists for a list of strings."""
        texts = [input] if isinstance(input, str) else list(input)
        vectors = []
        for text in texts:
            vector = np.asarray(self._embed_one(text)[0], dtype=np.float32)
            if normalize:
                vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
            vectors.append(vector.tolist())
        return vectors[0] if isinstance(input, str) else vectors

    def _embed_one(self, text: str) -> tuple[list[float], int]:
        if not self.embedding:
            raise ValueError(
                "this Llama was created without embedding=True; create it with "
                "embedding=True to compute embeddings"
            )
        from llamamtp.batch import Batch

        tokens = self._model.vocab.tokenize(text, add_special=True, parse_special=False)
        if not tokens:
            raise ValueError("cannot embed an empty text")
        target = self.session.target
        if self._embedding_ctx is None:
            self._embedding_ctx = Context(
                self._model, n_ctx=target.n_ctx, n_batch=target.n_ctx, n_ubatch=target.n_ctx,
                embeddings=True, **self._context_options(),
            )  # fmt: skip
        ctx = self._embedding_ctx
        if len(tokens) > ctx.n_batch:
            raise ValueError(
                f"text of {len(tokens)} tokens does not fit in n_ctx={ctx.n_batch}; "
                f"shorten it or create the Llama with a larger n_ctx"
            )
        ctx.memory_clear()
        batch = Batch(len(tokens))
        batch.set_tokens(tokens, 0)
        for i in range(len(tokens)):
            batch.ptr.logits[i] = True  # every token outputs its embedding
        ctx.decode(batch)
        # Mean over the tokens: the embedding of models without a pooling head.
        rows = np.stack([ctx.embeddings(i) for i in range(len(tokens))])
        return rows.mean(axis=0).tolist(), len(tokens)

    # Hub

    @classmethod
    def from_pretrained(cls, repo_id: str, filename: str | None, **kwargs: Any) -> Llama:
        """Download a GGUF file from the Hugging Face Hub (or its local cache) and load it."""
        from llamamtp.hub import download_model

        hub_kwargs = {key: kwargs.pop(key) for key in ("additional_files", "local_dir",
                      "local_dir_use_symlinks", "cache_dir") if key in kwargs}  # fmt: skip
        path = download_model(repo_id, filename, **hub_kwargs)
        return cls(path, **kwargs)

    @staticmethod
    def logits_to_logprobs(logits: np.ndarray, axis: int = -1) -> np.ndarray:
        """Log-softmax along ``axis``."""
        logits = np.asarray(logits, dtype=np.float32)
        maximum = np.max(logits, axis=axis, keepdims=True)
        shifted = logits - maximum
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

    @staticmethod
    def longest_token_prefix(a: Sequence[int], b: Sequence[int]) -> int:
        """Length of the common prefix of two token sequences."""
        return common_prefix(list(a), list(b))


class LlamaTokenizer:
    """Tokenizer view of a :class:`Llama`, with llama-cpp-python's methods."""

    def __init__(self, llama: Llama) -> None:
        self._llama = llama

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> list[int]:
        return self._llama.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: list[int], prev_tokens: list[int] | None = None,
                   special: bool = False) -> bytes:  # fmt: skip
        return self._llama.detokenize(tokens, prev_tokens=prev_tokens, special=special)

    def encode(self, text: str, add_bos: bool = True, special: bool = True) -> list[int]:
        return self.tokenize(
            text.encode("utf-8", errors="ignore"), add_bos=add_bos, special=special
        )

    def decode(self, tokens: list[int]) -> str:
        return self.detokenize(tokens).decode("utf-8", errors="ignore")


def _strip_usage(chunks: Iterator[dict]) -> Iterator[dict]:
    # Streamed chunks have llama-cpp-python's shape, which has no usage.
    for chunk in chunks:
        chunk.pop("usage", None)
        yield chunk


# Saving and restoring a session (llamamtp/decl/85_session.h).


def _session_n_embd(session: Session) -> int:
    from llamamtp._native import lib

    return lib.llamamtp_session_n_embd(session.ptr)


def _session_get_pending_h(session: Session, out: np.ndarray) -> None:
    from llamamtp._native import ffi, lib

    lib.llamamtp_session_get_pending_h(session.ptr, ffi.cast("float *", ffi.from_buffer(out)))


def _session_restore(session: Session, tokens: list[int], pending_h: np.ndarray) -> None:
    from llamamtp._native import ffi, lib
    from llamamtp.errors import clear_native_error, native_error

    c_tokens = ffi.new("llama_token[]", tokens) if tokens else ffi.NULL
    h = np.ascontiguousarray(pending_h, dtype=np.float32)
    c_h = ffi.cast("float *", ffi.from_buffer(h)) if h.size else ffi.NULL
    clear_native_error()
    status = lib.llamamtp_session_restore(session.ptr, c_tokens, len(tokens), c_h)
    if status < 0:
        session.reset()
        raise ValueError(f"could not restore the session state: {native_error()}")
