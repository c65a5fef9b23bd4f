"""The sampler chain of one request, built from llama-cpp-python's sampling arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from llamamtp._native import ffi, lib
from llamamtp.llama_grammar import LlamaGrammar
from llamamtp.model import Model
from llamamtp.processors import LogitsProcessor, PythonSampler
from llamamtp.sampler import Sampler


@dataclass
class SamplingParams:
    """llama-cpp-python's sampling arguments, with its defaults."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    penalty_last_n: int = 64
    mirostat_mode: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    seed: int = 0
    logit_bias: Mapping[int, float] | None = None
    grammar: LlamaGrammar | None = None
    logits_processor: LogitsProcessor | None = None
    python_samplers: list[PythonSampler] = field(default_factory=list)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first argument out of range."""
        if self.mirostat_mode not in (0, 1, 2):
            raise ValueError(f"mirostat_mode must be 0 (off), 1 or 2, got {self.mirostat_mode!r}")
        if self.repeat_penalty <= 0:
            raise ValueError(f"repeat_penalty must be > 0 (1.0 = off), got {self.repeat_penalty}")
        if not 0.0 <= self.top_p <= 1.0:
            raise ValueError(f"top_p must be in [0, 1], got {self.top_p}")
        if not 0.0 <= self.min_p <= 1.0:
            raise ValueError(f"min_p must be in [0, 1], got {self.min_p}")
        if self.grammar is not None and not isinstance(self.grammar, LlamaGrammar):
            raise TypeError(
                f"grammar must be a LlamaGrammar, got {type(self.grammar).__name__}; "
                f"use LlamaGrammar.from_string(text)"
            )


def build_chain(params: SamplingParams, model: Model, prompt: Sequence[int]) -> Sampler:
    """Build the chain llama-cpp-python 0.3.36 builds for these arguments, natively.

    Order: Python logits processors, logit bias, penalties, grammar, then the
    final sampler (greedy at temperature 0, dist below 0, mirostat, or
    top_k -> typical -> top_p -> min_p -> temp -> dist). The penalties see only
    generated tokens, as in llama-cpp-python.
    """
    params.check()
    chain = Sampler()
    if params.logits_processor is not None:
        python_sampler = PythonSampler(params.logits_processor, prompt)
        chain._add("python", python_sampler.ptr)
        params.python_samplers.append(python_sampler)
    if params.logit_bias:
        bias = {int(token): float(value) for token, value in params.logit_bias.items()}
        chain.logit_bias(model.n_vocab, bias)
    chain.penalties(
        params.penalty_last_n,
        params.repeat_penalty,
        params.frequency_penalty,
        params.presence_penalty,
    )
    if params.grammar is not None:
        chain.grammar(model.vocab, params.grammar.grammar, params.grammar.root)

    seed = params.seed
    if params.temperature < 0:
        chain.dist(seed)
    elif params.temperature == 0:
        chain.greedy()
    elif params.mirostat_mode == 1:
        chain.mirostat(model.n_vocab, seed, params.mirostat_tau, params.mirostat_eta)
    elif params.mirostat_mode == 2:
        chain.mirostat_v2(seed, params.mirostat_tau, params.mirostat_eta)
    else:
        chain.top_k(params.top_k)
        chain.typical(params.typical_p)
        chain.top_p(params.top_p)
        chain.min_p(params.min_p)
        chain.temp(params.temperature)
        chain.dist(seed)
    return chain


class SamplerSlot:
    """The session's sampler: a native slot that forwards to the current request's chain."""

    def __init__(self) -> None:
        self.sampler = Sampler()
        self.sampler._add("slot", lib.llamamtp_sampler_slot_init())
        self._slot = lib.llama_sampler_chain_get(self.sampler.ptr, 0)
        self.chain: Sampler | None = None

    def set(self, chain: Sampler | None) -> None:
        """Sample with ``chain`` from now on, closing the previous one."""
        previous = self.chain
        self.chain = chain
        lib.llamamtp_sampler_slot_set(self._slot, chain.ptr if chain is not None else ffi.NULL)
        if previous is not None:
            previous.close()
