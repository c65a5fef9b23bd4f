"""Tiny models with random weights: every code path of the real graphs, at CI size."""

from __future__ import annotations

import os
from pathlib import Path

from llamamtp.synthetic.metadata import KEY_PREFIX, metadata_writer
from llamamtp.synthetic.output import check_ftype, source_dtype, write_model_file
from llamamtp.synthetic.shapes import ARCHS, TINY_SHAPES
from llamamtp.synthetic.tensors import plan_tensors
from llamamtp.synthetic.tokenizer import load_tokenizer
from llamamtp.synthetic.writer import check_output_path, write_gguf

DEFAULT_LOGIT_SCALE = 1000.0
"""Standard deviation of a tiny model's logits.

With logits this far apart, the softmax is close to one-hot. At temperature 1 the
chance that a sampler draws anything but the top token is an estimated 0.5 % per
token (from the spacing of the largest of 151,936 Gaussian logits), so sampled runs
with and without MTP stay comparable. The greedy choice
does not depend on the scale; near-ties between the top two logits are as rare as
the float32 weights make them.
"""


def check_seed(seed: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")


def write_tiny(
    path: str | os.PathLike[str],
    arch: str = "qwen35",
    seed: int = 0,
    *,
    ftype: str = "F32",
    logit_scale: float = DEFAULT_LOGIT_SCALE,
    vocab_path: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Path:
    """Write a tiny random-weight model with one MTP block and return its path.

    ``arch`` is "qwen35" (dense), "qwen35moe" or "qwen3next"; the trunk has three
    Gated DeltaNet layers and one full-attention layer (see ``TINY_SHAPES``).
    ``ftype`` is "F32", "F16" or a quantization such as "Q8_0" or "Q4_K_M".
    ``logit_scale`` is the standard deviation of the logits (see
    ``DEFAULT_LOGIT_SCALE``). The tokenizer is the real Qwen one, from
    ``vocab_path`` or the source tree. Equal arguments give equal bytes.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; use one of {', '.join(ARCHS)}")
    check_seed(seed)
    check_ftype(ftype)
    if not logit_scale > 0:
        raise ValueError(f"logit_scale must be positive, got {logit_scale!r}")
    check_output_path(path)
    tokenizer = load_tokenizer(vocab_path)
    shape = TINY_SHAPES[arch]
    shape.validate()
    dtype = source_dtype(ftype, "F32")

    def extra(writer) -> None:
        writer.add_string(f"{KEY_PREFIX}.kind", "tiny-random")
        writer.add_uint32(f"{KEY_PREFIX}.seed", seed)
        writer.add_float32(f"{KEY_PREFIX}.logit_scale", logit_scale)

    def write_float(target: Path) -> Path:
        specs = plan_tensors(shape, tokenizer.n_vocab, seed, dtype, logit_scale=logit_scale)
        add_metadata = metadata_writer(shape, tokenizer, f"llamamtp tiny {arch}", dtype, extra)
        return write_gguf(target, arch, add_metadata, specs, progress=progress)

    return write_model_file(path, ftype, write_float)
