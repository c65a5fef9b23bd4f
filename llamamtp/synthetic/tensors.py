"""The tensor list of a synthetic model: names, shapes, types and how each is filled.

Names and shapes follow llama.cpp's loaders for qwen35, qwen35moe and qwen3next
(``src/models/qwen35.cpp`` and neighbours in the vendored tree). Shapes here are
numpy shapes, outermost dimension first, so a ggml tensor with ``ne = {n_embd,
n_vocab}`` is ``(n_vocab, n_embd)``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llamamtp.synthetic.shapes import ModelShape

RowFill = Callable[[int, int], np.ndarray]
"""Returns rows ``[start, stop)`` of a tensor viewed as 2-D ``(rows, shape[-1])``, as float32."""


@dataclass
class TensorSpec:
    """One tensor to write.

    ``kind`` groups tensors by their role, so the oracle can replace the fill of
    every output projection at once: "norm", "embd", "output", "proj_in",
    "proj_out", "conv", "ssm_a", "ssm_dt", "router", "eh_proj" or "mtp_head".
    """

    name: str
    shape: tuple[int, ...]
    dtype: type[np.floating]
    kind: str
    fill: RowFill

    @property
    def n_rows(self) -> int:
        return math.prod(self.shape[:-1])

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize


def tensor_seed(seed: int, name: str) -> list[int]:
    """Derive a ``numpy.random.default_rng`` seed that depends only on ``seed`` and ``name``."""
    digest = hashlib.sha256(name.encode()).digest()
    return [seed, int.from_bytes(digest[:8], "little")]


def constant(value: float, n_cols: int) -> RowFill:
    def fill(start: int, stop: int) -> np.ndarray:
        return np.full((stop - start, n_cols), value, dtype=np.float32)

    return fill


def uniform(seed: int, name: str, n_cols: int, std: float, mean: float = 0.0) -> RowFill:
    """Uniform random rows with the given mean and standard deviation.

    Rows must be requested in order from 0, which is how the writer reads them.
    """
    rng = np.random.default_rng(tensor_seed(seed, name))
    half_width = std * math.sqrt(3.0)

    def fill(start: int, stop: int) -> np.ndarray:
        rows = rng.random((stop - start, n_cols), dtype=np.float32)
        rows *= np.float32(2 * half_width)
        rows += np.float32(mean - half_width)
        return rows

    return fill


def plan_tensors(
    shape: ModelShape,
    n_vocab: int,
    seed: int,
    dtype: type[np.floating] = np.float32,
    logit_scale: float = 1.0,
) -> list[TensorSpec]:
    """List every tensor of a model with random weights, trunk first, MTP block last.

    ``dtype`` is the type of the matrices; norms, convolution kernels, SSM
    parameters and router weights are always float32, as llama.cpp's converters
    write them. ``logit_scale`` is the standard deviation of the logits when the
    final hidden state has unit RMS.
    """
    plan = _Plan(shape, seed, dtype)
    n_embd = shape.n_embd

    plan.matrix("token_embd.weight", (n_vocab, n_embd), "embd", std=1.0)
    plan.norm("output_norm.weight", n_embd)
    plan.matrix("output.weight", (n_vocab, n_embd), "output", std=logit_scale / math.sqrt(n_embd))

    for il in range(shape.n_layer):
        plan.block(il)
    plan.mtp_block(shape.n_layer)
    return plan.specs


class _Plan:
    def __init__(self, shape: ModelShape, seed: int, dtype: type[np.floating]) -> None:
        self.shape = shape
        self.seed = seed
        self.dtype = dtype
        self.specs: list[TensorSpec] = []

    def add(self, name: str, shape: tuple[int, ...], kind: str, fill: RowFill,
            dtype: type[np.floating] | None = None) -> None:  # fmt: skip
        self.specs.append(TensorSpec(name, shape, dtype or self.dtype, kind, fill))

    def norm(self, name: str, n: int) -> None:
        self.add(name, (n,), "norm", constant(1.0, n), np.float32)

    def matrix(self, name: str, shape: tuple[int, ...], kind: str, std: float | None = None,
               dtype: type[np.floating] | None = None) -> None:  # fmt: skip
        # Default: 1/sqrt(fan_in), which keeps activations near unit scale.
        std = 1.0 / math.sqrt(shape[-1]) if std is None else std
        self.add(name, shape, kind, uniform(self.seed, name, shape[-1], std), dtype)

    def block(self, il: int) -> None:
        s = self.shape
        prefix = f"blk.{il}"
        self.norm(f"{prefix}.attn_norm.weight", s.n_embd)
        self.norm(f"{prefix}.post_attention_norm.weight", s.n_embd)
        if s.is_recurrent(il):
            self.delta_net(prefix)
        else:
            self.attention(prefix)
        if s.arch == "qwen35":
            self.dense_ffn(prefix)
        else:
            self.moe_ffn(prefix)

    def mtp_block(self, il: int) -> None:
        """Add the NextN block: a full-attention block plus the projections that feed it."""
        s = self.shape
        prefix = f"blk.{il}"
        self.block(il)
        self.matrix(f"{prefix}.nextn.eh_proj.weight", (s.n_embd, 2 * s.n_embd), "eh_proj")
        self.norm(f"{prefix}.nextn.enorm.weight", s.n_embd)
        self.norm(f"{prefix}.nextn.hnorm.weight", s.n_embd)
        self.norm(f"{prefix}.nextn.shared_head_norm.weight", s.n_embd)

    def attention(self, prefix: str) -> None:
        s = self.shape
        # The query projection also produces the output gate, hence twice the heads.
        self.matrix(f"{prefix}.attn_q.weight", (2 * s.n_head * s.head_dim, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.attn_k.weight", (s.n_head_kv * s.head_dim, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.attn_v.weight", (s.n_head_kv * s.head_dim, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.attn_output.weight", (s.n_embd, s.n_head * s.head_dim), "proj_out")
        self.norm(f"{prefix}.attn_q_norm.weight", s.head_dim)
        self.norm(f"{prefix}.attn_k_norm.weight", s.head_dim)

    def delta_net(self, prefix: str) -> None:
        s = self.shape
        key_dim = s.ssm_d_state * s.ssm_n_group
        value_dim = s.ssm_d_state * s.ssm_dt_rank
        conv_dim = 2 * key_dim + value_dim
        n_v_heads = s.ssm_dt_rank

        self.matrix(f"{prefix}.attn_qkv.weight", (conv_dim, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.attn_gate.weight", (value_dim, s.n_embd), "proj_in")
        conv = f"{prefix}.ssm_conv1d.weight"
        self.add(conv, (conv_dim, s.ssm_d_conv), "conv",
                 uniform(self.seed, conv, s.ssm_d_conv, 1.0 / math.sqrt(s.ssm_d_conv)),
                 np.float32)  # fmt: skip
        # Decay per value head: gate = softplus(alpha + dt_bias) * ssm_a, with ssm_a < 0,
        # so the recurrent state decays by exp(gate) < 1 per token.
        ssm_a = f"{prefix}.ssm_a"
        self.add(ssm_a, (n_v_heads,), "ssm_a",
                 uniform(self.seed, ssm_a, n_v_heads, std=0.4, mean=-1.0), np.float32)  # fmt: skip
        ssm_dt = f"{prefix}.ssm_dt.bias"
        self.add(ssm_dt, (n_v_heads,), "ssm_dt",
                 uniform(self.seed, ssm_dt, n_v_heads, std=0.5), np.float32)  # fmt: skip
        if s.arch == "qwen3next":
            self.matrix(f"{prefix}.ssm_ba.weight", (2 * n_v_heads, s.n_embd), "proj_in")
        else:
            self.matrix(f"{prefix}.ssm_beta.weight", (n_v_heads, s.n_embd), "proj_in")
            self.matrix(f"{prefix}.ssm_alpha.weight", (n_v_heads, s.n_embd), "proj_in")
        self.norm(f"{prefix}.ssm_norm.weight", s.ssm_d_state)
        self.matrix(f"{prefix}.ssm_out.weight", (s.n_embd, value_dim), "proj_out")

    def dense_ffn(self, prefix: str) -> None:
        s = self.shape
        self.matrix(f"{prefix}.ffn_gate.weight", (s.n_ff, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.ffn_up.weight", (s.n_ff, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.ffn_down.weight", (s.n_embd, s.n_ff), "proj_out")

    def moe_ffn(self, prefix: str) -> None:
        s = self.shape
        n_expert = s.n_expert
        self.matrix(f"{prefix}.ffn_gate_inp.weight", (n_expert, s.n_embd), "router",
                    dtype=np.float32)  # fmt: skip
        self.matrix(f"{prefix}.ffn_gate_exps.weight", (n_expert, s.n_ff_exp, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.ffn_up_exps.weight", (n_expert, s.n_ff_exp, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.ffn_down_exps.weight", (n_expert, s.n_embd, s.n_ff_exp), "proj_out")
        self.add(f"{prefix}.ffn_gate_inp_shexp.weight", (s.n_embd,), "router",
                 uniform(self.seed, f"{prefix}.ffn_gate_inp_shexp.weight", s.n_embd,
                         1.0 / math.sqrt(s.n_embd)),
                 np.float32)  # fmt: skip
        self.matrix(f"{prefix}.ffn_gate_shexp.weight", (s.n_ff_shexp, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.ffn_up_shexp.weight", (s.n_ff_shexp, s.n_embd), "proj_in")
        self.matrix(f"{prefix}.ffn_down_shexp.weight", (s.n_embd, s.n_ff_shexp), "proj_out")
