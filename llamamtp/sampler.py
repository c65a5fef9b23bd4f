"""``Sampler``: a chain of llama.cpp's C samplers, applied natively."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llamamtp._native import ffi, lib
from llamamtp._owner import NativeOwner
from llamamtp._stderr import captured_stderr
from llamamtp.errors import clear_native_error, with_native_error

if TYPE_CHECKING:
    from llamamtp.context import Context
    from llamamtp.vocab import Vocab

DEFAULT_SEED = lib.LLAMA_DEFAULT_SEED
# The line in which llama.cpp's GBNF parser gives the reason a grammar is invalid.
_GRAMMAR_ERROR = re.compile(r"error parsing grammar: (.*)")


class Sampler(NativeOwner):
    """A sampler chain. Add samplers in order, ending with greedy, dist or mirostat.

        chain = Sampler().top_k(40).top_p(0.95).temp(0.8).dist(seed=1)
        token = chain.sample(ctx)

    Each ``add`` method returns the chain, so calls can be chained.
    """

    _kind = "sampler"

    def __init__(self) -> None:
        params = lib.llama_sampler_chain_default_params()
        params.no_perf = True
        self._own(lib.llama_sampler_chain_init(params), lib.llama_sampler_free)
        self.names: list[str] = []

    def _add(self, name: str, smpl: Any) -> Sampler:
        if smpl == ffi.NULL:
            raise ValueError(with_native_error(f"could not create the {name} sampler"))
        lib.llama_sampler_chain_add(self.ptr, smpl)
        self.names.append(name)
        return self

    def __len__(self) -> int:
        return lib.llama_sampler_chain_n(self.ptr)

    # Final samplers: pick the token.

    def greedy(self) -> Sampler:
        """Pick the most likely token."""
        return self._add("greedy", lib.llama_sampler_init_greedy())

    def dist(self, seed: int = DEFAULT_SEED) -> Sampler:
        """Draw from the distribution; the default seed is random."""
        return self._add("dist", lib.llama_sampler_init_dist(_seed(seed)))

    def mirostat(self, n_vocab: int, seed: int = DEFAULT_SEED, tau: float = 5.0,
                 eta: float = 0.1, m: int = 100) -> Sampler:  # fmt: skip
        """Mirostat 1.0, which targets a surprise of ``tau``."""
        return self._add(
            "mirostat", lib.llama_sampler_init_mirostat(n_vocab, _seed(seed), tau, eta, m)
        )

    def mirostat_v2(self, seed: int = DEFAULT_SEED, tau: float = 5.0, eta: float = 0.1) -> Sampler:
        """Mirostat 2.0."""
        return self._add("mirostat_v2", lib.llama_sampler_init_mirostat_v2(_seed(seed), tau, eta))

    # Filters and transforms.

    def top_k(self, k: int) -> Sampler:
        """Keep the ``k`` most likely tokens (k <= 0 keeps all)."""
        return self._add("top_k", lib.llama_sampler_init_top_k(k))

    def top_p(self, p: float, min_keep: int = 1) -> Sampler:
        """Keep the smallest set of tokens whose probabilities sum to ``p``."""
        return self._add("top_p", lib.llama_sampler_init_top_p(p, min_keep))

    def min_p(self, p: float, min_keep: int = 1) -> Sampler:
        """Drop tokens less likely than ``p`` times the most likely one."""
        return self._add("min_p", lib.llama_sampler_init_min_p(p, min_keep))

    def typical(self, p: float, min_keep: int = 1) -> Sampler:
        """Locally typical sampling."""
        return self._add("typical", lib.llama_sampler_init_typical(p, min_keep))

    def temp(self, t: float) -> Sampler:
        """Divide logits by the temperature ``t``."""
        return self._add("temp", lib.llama_sampler_init_temp(t))

    def temp_ext(self, t: float, delta: float, exponent: float) -> Sampler:
        """Dynamic temperature in ``[t - delta, t + delta]``."""
        return self._add("temp_ext", lib.llama_sampler_init_temp_ext(t, delta, exponent))

    def xtc(self, p: float, t: float, min_keep: int = 1, seed: int = DEFAULT_SEED) -> Sampler:
        """Exclude top choices with probability ``p`` above threshold ``t``."""
        return self._add("xtc", lib.llama_sampler_init_xtc(p, t, min_keep, _seed(seed)))

    def top_n_sigma(self, n: float) -> Sampler:
        return self._add("top_n_sigma", lib.llama_sampler_init_top_n_sigma(n))

    def penalties(self, last_n: int = 64, repeat: float = 1.0, frequency: float = 0.0,
                  presence: float = 0.0) -> Sampler:  # fmt: skip
        """Repetition, frequency and presence penalties over the last ``last_n`` tokens."""
        if repeat <= 0:
            raise ValueError(f"repeat penalty must be > 0 (1.0 = off), got {repeat}")
        return self._add(
            "penalties", lib.llama_sampler_init_penalties(0, last_n, repeat, frequency, presence)
        )

    def logit_bias(self, n_vocab: int, bias: Mapping[int, float]) -> Sampler:
        """Add ``bias[token]`` to the logit of each listed token."""
        for token in bias:
            if not 0 <= token < n_vocab:
                raise ValueError(
                    f"logit_bias token id {token} is outside the vocabulary [0, {n_vocab})"
                )
        entries = ffi.new("llama_logit_bias[]", [(int(t), float(b)) for t, b in bias.items()])
        return self._add(
            "logit_bias", lib.llama_sampler_init_logit_bias(n_vocab, len(bias), entries)
        )

    def grammar(self, vocab: Vocab, grammar: str, root: str = "root") -> Sampler:
        """Constrain output to a GBNF grammar; raises ``ValueError`` if it does not parse."""
        clear_native_error()
        # The parser prints why a grammar is invalid to stderr, not to the log.
        with captured_stderr() as stderr:
            smpl = lib.llama_sampler_init_grammar(vocab.ptr, grammar.encode(), root.encode())
        if smpl == ffi.NULL:
            message = f"invalid GBNF grammar (root rule {root!r})"
            reason = _GRAMMAR_ERROR.search(stderr.text)
            if reason:
                message += f": {reason.group(1).strip()}"
            raise ValueError(with_native_error(message) + "; fix the grammar text")
        if stderr.text and sys.stderr is not None:
            sys.stderr.write(stderr.text)  # Other text goes back to stderr.
        return self._add("grammar", smpl)

    # Use.

    def sample(self, ctx: Context, idx: int = -1) -> int:
        """Sample a token from output row ``idx`` of the context's last decode and accept it."""
        token = ffi.new("llama_token *")
        status = lib.llamamtp_sample(self.ptr, ctx.ptr, idx, token)
        if status == -1:
            raise ValueError(
                f"no logits for output index {idx}; mark that token with logits=True "
                f"in the decoded batch"
            )
        if status == -2:
            raise ValueError(
                f"sampler chain {self.names} selected no token; end the chain with "
                f"greedy(), dist() or mirostat(), and check that a grammar allows a token"
            )
        return token[0]

    def accept(self, token: int) -> None:
        """Tell stateful samplers (penalties, grammar) that ``token`` was chosen."""
        lib.llama_sampler_accept(self.ptr, token)

    def reset(self) -> None:
        """Forget accepted tokens and restart random streams from their seeds."""
        lib.llama_sampler_reset(self.ptr)

    @property
    def seed(self) -> int:
        """The seed of the chain's random sampler (LLAMA_DEFAULT_SEED when none)."""
        return lib.llama_sampler_get_seed(self.ptr)


def _seed(seed: int) -> int:
    if not 0 <= seed <= 0xFFFFFFFF:
        raise ValueError(f"seed must be in [0, 2**32 - 1], got {seed}")
    return seed
