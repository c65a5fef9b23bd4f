"""Oracle models: real Qwen3.5 compute, with a known next token and a known MTP acceptance rate.

Every block's output projection (``attn_output``, ``ssm_out``, ``ffn_down`` and the
MoE equivalents) is zero, so the residual stream stays equal to the token embedding
while every other weight is random and costs what it costs in a real model. The
output then depends only on the last token:

- ``K`` cycle tokens get orthonormal embeddings ``e_0 .. e_{K-1}``; every other
  token shares one more orthonormal "start" vector ``s``.
- The LM head row of ``f(c_i) = c_{i+1 mod K}`` is ``m * e_i`` and row ``c_0`` also
  gets ``m * s``, with ``m = margin / sqrt(n_embd)``. After the final RMS norm the
  hidden state is ``sqrt(n_embd) * e_i``, so the logit of ``f(c_i)`` is ``margin``
  and every other logit is 0: greedy decoding walks the cycle.
- The MTP block's ``nextn.eh_proj`` is ``[I | 0]``: it passes the token embedding
  through and drops the trunk's hidden state. Its own ``nextn.shared_head_head``
  maps ``c_i`` to ``g(c_i)``, which is ``f(c_i)`` for exactly ``round(alpha * K)``
  cycle tokens chosen at random, and ``f(f(c_i))`` for the others.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from llamamtp.synthetic.gguf_read import read_gguf_metadata
from llamamtp.synthetic.metadata import KEY_PREFIX, metadata_writer
from llamamtp.synthetic.output import check_ftype, source_dtype, write_model_file
from llamamtp.synthetic.shapes import ModelShape, preset_shape
from llamamtp.synthetic.tensors import RowFill, TensorSpec, constant, plan_tensors
from llamamtp.synthetic.tiny import check_seed
from llamamtp.synthetic.tokenizer import load_tokenizer
from llamamtp.synthetic.writer import check_output_path, write_gguf

DEFAULT_ALPHA = 0.75
DEFAULT_MARGIN = 30.0
"""Logit of the next token over every other token (natural-log units).

At 30 the next token keeps all but about 2e-8 of the probability against a
248,320-token vocabulary at temperature 1 (248,320 * e**-30), so sampling follows
the cycle too.
"""
MAX_CYCLE_LENGTH = 256


@dataclass(frozen=True)
class Oracle:
    """The next-token function ``f`` and the MTP head's guess ``g`` of an oracle model.

    ``cycle[i]`` is followed by ``cycle[i + 1]`` (wrapping around); every token
    outside the cycle is followed by ``cycle[0]``. ``agree[i]`` is True where the
    MTP head's guess for ``cycle[i]`` equals the next token.
    """

    cycle: tuple[int, ...]
    agree: tuple[bool, ...]
    alpha: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.cycle)})

    @property
    def cycle_length(self) -> int:
        return len(self.cycle)

    @property
    def acceptance(self) -> float:
        """Fraction of cycle tokens where ``g == f``: ``alpha`` rounded to a multiple of 1/K."""
        return sum(self.agree) / len(self.agree)

    def f(self, token: int) -> int:
        """Return the token the model outputs after ``token`` (greedy)."""
        i = self._index.get(token)
        return self.cycle[0] if i is None else self.cycle[(i + 1) % len(self.cycle)]

    def g(self, token: int) -> int:
        """Return the token the MTP head drafts after ``token``."""
        i = self._index.get(token)
        if i is None:
            return self.cycle[0]
        step = 1 if self.agree[i] else 2
        return self.cycle[(i + step) % len(self.cycle)]

    def simulate_speculative(
        self, last_token: int, n_draft: int, n_predict: int
    ) -> tuple[int, int]:
        """Return ``(n_drafted, n_accept)`` of greedy MTP speculation on this model.

        Replays upstream's ``llama-speculative-simple`` loop with ``--spec-type
        draft-mtp`` (llama.cpp 0c1e570). Each step drafts tokens by chaining ``g``
        from the last token and verifies them against ``f``. It keeps the accepted
        prefix plus one token from the target, and the loop stops once more than
        ``n_predict`` tokens were produced. ``last_token`` is the last prompt token.

        A draft has ``n_draft`` tokens, cut to the remaining budget
        ``n_predict - produced - 1`` when that is positive. When the budget is 0 or
        less, upstream at that commit does not cut the draft at all, so neither
        does this replay.
        """
        produced = drafted = accepted = 0
        token = last_token
        while True:
            budget = n_predict - produced - 1
            n_max = min(n_draft, budget) if budget > 0 else n_draft
            draft = []
            guess = token
            for _ in range(n_max):
                guess = self.g(guess)
                draft.append(guess)
            n_ok = 0
            for guess in draft:
                if guess != self.f(token):
                    break
                token = guess
                n_ok += 1
            token = self.f(token)
            drafted += len(draft)
            accepted += n_ok
            produced += n_ok + 1
            if produced > n_predict:
                return drafted, accepted


def make_oracle(word_ids: np.ndarray, cycle_length: int, alpha: float, seed: int) -> Oracle:
    """Pick the cycle tokens and the agreement set from ``seed``."""
    rng = np.random.default_rng([seed, 0x0AC1E])
    cycle = rng.choice(word_ids, size=cycle_length, replace=False)
    n_agree = math.floor(alpha * cycle_length + 0.5)
    agree = np.zeros(cycle_length, dtype=bool)
    agree[rng.choice(cycle_length, size=n_agree, replace=False)] = True
    return Oracle(tuple(int(t) for t in cycle), tuple(bool(a) for a in agree), float(alpha))


def read_oracle(path: str | os.PathLike[str]) -> Oracle:
    """Read the cycle and agreement set stored in an oracle model's metadata."""
    metadata = read_gguf_metadata(path)
    fields = {}
    for key in ("kind", "cycle", "agree", "alpha"):
        if f"{KEY_PREFIX}.{key}" not in metadata:
            raise ValueError(
                f"{str(path)!r} has no {KEY_PREFIX}.{key} key, so it is not an oracle model "
                f"written by llamamtp.synthetic.write_oracle"
            )
        fields[key] = metadata[f"{KEY_PREFIX}.{key}"]
    if fields["kind"] != "oracle":
        raise ValueError(f"{str(path)!r} is a {fields['kind']!r} model, not an oracle model")
    return Oracle(
        tuple(int(t) for t in fields["cycle"]),
        tuple(bool(a) for a in fields["agree"]),
        float(fields["alpha"]),
    )


def _basis(seed: int, n_embd: int, n_vectors: int) -> np.ndarray:
    """``n_vectors`` random orthonormal vectors of length ``n_embd``, one per row."""
    rng = np.random.default_rng([seed, 0xBA515])
    q, _ = np.linalg.qr(rng.standard_normal((n_embd, n_vectors)))
    return np.ascontiguousarray(q.T, dtype=np.float32)


def _lookup_rows(default: np.ndarray | None, rows: dict[int, np.ndarray], n_cols: int) -> RowFill:
    """Rows equal to ``default`` (zeros when None) except for the ids in ``rows``."""
    ids = np.array(sorted(rows), dtype=np.int64)
    values = np.stack([rows[i] for i in ids]) if rows else np.zeros((0, n_cols), np.float32)

    def fill(start: int, stop: int) -> np.ndarray:
        if default is None:
            block = np.zeros((stop - start, n_cols), dtype=np.float32)
        else:
            block = np.tile(default, (stop - start, 1))
        lo, hi = np.searchsorted(ids, [start, stop])
        block[ids[lo:hi] - start] = values[lo:hi]
        return block

    return fill


def _head_rows(
    oracle: Oracle, next_token: Callable[[int], int], basis: np.ndarray, scale: float
) -> dict[int, np.ndarray]:
    """LM head rows that map each cycle token (and the start vector) to ``next_token`` of it."""
    k = oracle.cycle_length
    rows: dict[int, np.ndarray] = {}
    for i, token in enumerate(oracle.cycle):
        target = next_token(token)
        rows[target] = rows.get(target, 0) + scale * basis[i]
    start_target = oracle.cycle[0]
    rows[start_target] = rows.get(start_target, 0) + scale * basis[k]
    return rows


def oracle_tensors(shape: ModelShape, n_vocab: int, oracle: Oracle, seed: int,
                   dtype: type[np.floating], margin: float) -> list[TensorSpec]:  # fmt: skip
    """List the tensors of an oracle model: random weights with the overrides described above."""
    n_embd = shape.n_embd
    k = oracle.cycle_length
    basis = _basis(seed, n_embd, k + 1)
    scale = margin / math.sqrt(n_embd)
    mtp = f"blk.{shape.n_layer}"

    specs = plan_tensors(shape, n_vocab, seed, dtype)
    for spec in specs:
        n_cols = spec.shape[-1]
        if spec.kind == "proj_out":
            spec.fill = constant(0.0, n_cols)
        elif spec.name == "token_embd.weight":
            rows = {token: basis[i] for i, token in enumerate(oracle.cycle)}
            spec.fill = _lookup_rows(basis[k], rows, n_cols)
        elif spec.name == "output.weight":
            spec.fill = _lookup_rows(None, _head_rows(oracle, oracle.f, basis, scale), n_cols)
        elif spec.kind == "eh_proj":
            identity = np.hstack([np.eye(n_embd, dtype=np.float32),
                                  np.zeros((n_embd, n_embd), np.float32)])  # fmt: skip
            spec.fill = lambda start, stop, m=identity: m[start:stop].copy()

    head = _lookup_rows(None, _head_rows(oracle, oracle.g, basis, scale), n_embd)
    specs.append(TensorSpec(f"{mtp}.nextn.shared_head_head.weight", (n_vocab, n_embd),
                            dtype, "mtp_head", head))  # fmt: skip
    return specs


def _check_alpha(alpha: float) -> None:
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")


def write_oracle(
    path: str | os.PathLike[str],
    preset: str = "tiny",
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    *,
    ftype: str | None = None,
    cycle_length: int | None = None,
    margin: float = DEFAULT_MARGIN,
    quantize_from: str = "F16",
    vocab_path: str | os.PathLike[str] | None = None,
    progress: bool = False,
    n_threads: int = 0,
) -> Path:
    """Write an oracle qwen35 model whose MTP drafts are accepted at rate ``alpha``.

    Returns the path of the written file.

    ``preset`` is "tiny" (CI size) or a Qwen3.5 dense size: "0.8B", "2B", "4B",
    "9B" (see ``PRESETS``); the real sizes pad the vocabulary to 248,320 tokens.
    ``ftype`` is "F32", "F16" or a quantization such as "Q8_0" or "Q4_K_M"
    (default "F32" for "tiny", "F16" otherwise); a quantized file is made from a
    temporary ``quantize_from`` file with ``n_threads`` threads (0 = all cores).
    ``cycle_length`` is the number of cycle tokens ``K`` (default
    ``min(256, n_embd - 1)``). The MTP head gets ``round(alpha * K)`` of the
    ``K`` cycle tokens right, so its rate is within ``1 / (2K)`` of ``alpha``.
    ``margin`` is the logit gap of the next token (see ``DEFAULT_MARGIN``).
    Read ``f`` and ``g`` back with :func:`read_oracle`. Equal arguments give equal bytes.
    """
    _check_alpha(alpha)
    check_seed(seed)
    shape = preset_shape(preset)
    shape.validate()
    ftype = ftype or ("F32" if preset == "tiny" else "F16")
    check_ftype(ftype)
    dtype = source_dtype(ftype, quantize_from)
    max_cycle = min(MAX_CYCLE_LENGTH, shape.n_embd - 1)
    cycle_length = max_cycle if cycle_length is None else cycle_length
    if not 2 <= cycle_length <= shape.n_embd - 1:
        raise ValueError(
            f"cycle_length must be in [2, {shape.n_embd - 1}] for preset {preset!r} "
            f"(n_embd - 1, so that the embeddings can be orthonormal), got {cycle_length}"
        )
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin!r}")
    check_output_path(path)

    tokenizer = load_tokenizer(vocab_path).padded(shape.n_vocab)
    word_ids = tokenizer.word_token_ids()
    if cycle_length > len(word_ids):
        raise ValueError(
            f"cycle_length={cycle_length} exceeds the {len(word_ids)} word tokens of the "
            f"tokenizer; use a shorter cycle"
        )
    oracle = make_oracle(word_ids, cycle_length, alpha, seed)

    def extra(writer: gguf.GGUFWriter) -> None:
        writer.add_string(f"{KEY_PREFIX}.kind", "oracle")
        writer.add_string(f"{KEY_PREFIX}.preset", preset)
        writer.add_uint32(f"{KEY_PREFIX}.seed", seed)
        writer.add_float32(f"{KEY_PREFIX}.alpha", alpha)
        writer.add_float32(f"{KEY_PREFIX}.margin", margin)
        writer.add_array(f"{KEY_PREFIX}.cycle", list(oracle.cycle))
        writer.add_array(f"{KEY_PREFIX}.agree", [int(a) for a in oracle.agree])

    def write_float(target: Path) -> Path:
        specs = oracle_tensors(shape, tokenizer.n_vocab, oracle, seed, dtype, margin)
        name = f"llamamtp oracle {preset} alpha={alpha:g}"
        add_metadata = metadata_writer(shape, tokenizer, name, dtype, extra)
        return write_gguf(target, shape.arch, add_metadata, specs, progress=progress)

    return write_model_file(path, ftype, write_float, n_threads=n_threads)
