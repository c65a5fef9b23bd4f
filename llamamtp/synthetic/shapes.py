"""Model shapes: the hyperparameters of a synthetic model, tiny fixtures and real-size presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

ARCHS = ("qwen35", "qwen35moe", "qwen3next")
"""Architectures the generator writes; each has llama.cpp's MTP (NextN) graph."""

QWEN35_N_VOCAB = 248_320
"""Rows of Qwen3.5's embedding and LM head; presets pad the tokenizer to this size."""


@dataclass(frozen=True)
class ModelShape:
    """Hyperparameters of a Qwen3.5-family model with one MTP block.

    Sizes are element counts. ``n_layer`` counts the trunk only; the file holds
    ``n_layer + 1`` blocks because the MTP block is appended after the trunk.
    Every ``full_attention_interval``-th trunk layer is full attention; the others
    are Gated DeltaNet layers. ``n_vocab=None`` keeps the tokenizer's own size.
    """

    arch: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    ssm_d_state: int
    ssm_n_group: int
    ssm_dt_rank: int
    ssm_d_conv: int = 4
    full_attention_interval: int = 4
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    n_ff_shexp: int = 0
    n_vocab: int | None = None
    context_length: int = 262_144
    rope_freq_base: float = 10_000_000.0
    rms_norm_eps: float = 1e-6

    @property
    def n_rot(self) -> int:
        """Rotary dimensions per head: a quarter of the head, as in Qwen3-Next and Qwen3.5."""
        return self.head_dim // 4

    @property
    def rope_sections(self) -> list[int]:
        """Interleaved M-RoPE sections, in Qwen3.5's 11:11:10 ratio, summing to ``n_rot / 2``."""
        half = self.n_rot // 2
        first = round(half * 11 / 32)
        return [first, first, half - 2 * first, 0]

    @property
    def ssm_d_inner(self) -> int:
        return self.ssm_d_state * self.ssm_dt_rank

    def is_recurrent(self, il: int) -> bool:
        """Return True if block ``il`` is a Gated DeltaNet layer (the MTP block never is)."""
        return il < self.n_layer and (il + 1) % self.full_attention_interval != 0

    def with_vocab(self, n_vocab: int | None) -> ModelShape:
        return dataclasses.replace(self, n_vocab=n_vocab)

    def validate(self) -> None:
        """Raise ValueError naming the first hyperparameter llama.cpp would reject."""
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; use one of {', '.join(ARCHS)}")
        positive = ("n_layer", "n_embd", "n_ff", "n_head", "n_head_kv", "head_dim",
                    "ssm_d_state", "ssm_n_group", "ssm_dt_rank", "ssm_d_conv",
                    "full_attention_interval", "context_length")  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_head % self.n_head_kv != 0:
            raise ValueError(
                f"n_head={self.n_head} must be a multiple of n_head_kv={self.n_head_kv}"
            )
        if self.ssm_dt_rank % self.ssm_n_group != 0:
            raise ValueError(
                f"ssm_dt_rank={self.ssm_dt_rank} (value heads) must be a multiple of "
                f"ssm_n_group={self.ssm_n_group} (key heads)"
            )
        if self.head_dim % 8 != 0:
            raise ValueError(
                f"head_dim must be a multiple of 8 for rotary sections, got {self.head_dim}"
            )
        if self.arch == "qwen35" and self.n_expert:
            raise ValueError("qwen35 is dense; set n_expert=0 or use arch='qwen35moe'")
        if self.arch != "qwen35":
            if self.n_expert < 2 or not 1 <= self.n_expert_used <= self.n_expert:
                raise ValueError(
                    f"{self.arch} needs n_expert >= 2 and 1 <= n_expert_used <= n_expert, "
                    f"got n_expert={self.n_expert}, n_expert_used={self.n_expert_used}"
                )
            if self.n_ff_exp < 1 or self.n_ff_shexp < 1:
                raise ValueError(f"{self.arch} needs n_ff_exp and n_ff_shexp of at least 1")


# Tiny fixtures: 4 trunk layers (three Gated DeltaNet layers, then one full-attention
# layer) and one MTP block. The LM head over the real 151,936-token vocabulary is most
# of the compute: greedy decoding of the qwen35 one took about 2 ms per token on one
# core of a 2-core development machine.
_TINY_COMMON = dict(
    n_layer=4, n_embd=64, n_ff=128, n_head=4, n_head_kv=2, head_dim=32,
    ssm_d_state=16, ssm_n_group=2, ssm_dt_rank=4, context_length=4096,
)  # fmt: skip
_TINY_MOE = dict(n_expert=4, n_expert_used=2, n_ff_exp=32, n_ff_shexp=64)

TINY_SHAPES: dict[str, ModelShape] = {
    "qwen35": ModelShape(arch="qwen35", **_TINY_COMMON),
    "qwen35moe": ModelShape(arch="qwen35moe", **_TINY_COMMON, **_TINY_MOE),
    "qwen3next": ModelShape(arch="qwen3next", **_TINY_COMMON, **_TINY_MOE),
}
"""Tiny shapes per architecture, for fixtures and CI."""

# Real Qwen3.5 dense sizes. Layer counts and widths are Qwen3.5's (0.8B: 24 x 1024,
# 2B: 24 x 2048, 4B: 32 x 2560, 9B: 32 x 4096), which is also how llama.cpp's qwen35
# loader names the size. NOTE: the FFN widths and head counts are estimates chosen so
# that the parameter counts land near the nominal sizes; no official config.json was
# available to check them against.
PRESETS: dict[str, ModelShape] = {
    "tiny": ModelShape(arch="qwen35", **_TINY_COMMON),
    "0.8B": ModelShape(
        arch="qwen35", n_layer=24, n_embd=1024, n_ff=3584, n_head=8, n_head_kv=2,
        head_dim=256, ssm_d_state=128, ssm_n_group=16, ssm_dt_rank=16,
        n_vocab=QWEN35_N_VOCAB,
    ),
    "2B": ModelShape(
        arch="qwen35", n_layer=24, n_embd=2048, n_ff=6144, n_head=8, n_head_kv=2,
        head_dim=256, ssm_d_state=128, ssm_n_group=16, ssm_dt_rank=16,
        n_vocab=QWEN35_N_VOCAB,
    ),
    "4B": ModelShape(
        arch="qwen35", n_layer=32, n_embd=2560, n_ff=9216, n_head=16, n_head_kv=4,
        head_dim=256, ssm_d_state=128, ssm_n_group=16, ssm_dt_rank=32,
        n_vocab=QWEN35_N_VOCAB,
    ),
    "9B": ModelShape(
        arch="qwen35", n_layer=32, n_embd=4096, n_ff=12288, n_head=16, n_head_kv=4,
        head_dim=256, ssm_d_state=128, ssm_n_group=16, ssm_dt_rank=32,
        n_vocab=QWEN35_N_VOCAB,
    ),
}  # fmt: skip
"""Oracle presets by name: "tiny" for CI, the others at real Qwen3.5 dense sizes."""


def preset_shape(preset: str) -> ModelShape:
    """Return the shape of a named preset; raise ValueError naming the choices."""
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}") from None
