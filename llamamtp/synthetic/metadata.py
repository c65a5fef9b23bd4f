"""GGUF metadata of a synthetic model: llama.cpp hyperparameters, tokenizer and our own keys."""

from __future__ import annotations

from collections.abc import Callable

import gguf
import numpy as np

from llamamtp.synthetic.shapes import ModelShape
from llamamtp.synthetic.tokenizer import Tokenizer
from llamamtp.synthetic.writer import GGUF_FTYPE

KEY_PREFIX = "llamamtp.synthetic"
"""Prefix of the keys that describe how a synthetic model was made."""


def metadata_writer(
    shape: ModelShape,
    tokenizer: Tokenizer,
    name: str,
    dtype: type[np.floating],
    extra: Callable[[gguf.GGUFWriter], None] | None = None,
) -> Callable[[gguf.GGUFWriter], None]:
    """Return a function that adds every key of the model to a GGUFWriter, in a fixed order."""

    def add(writer: gguf.GGUFWriter) -> None:
        writer.add_name(name)
        writer.add_file_type(GGUF_FTYPE[np.dtype(dtype)])
        _add_hparams(writer, shape)
        tokenizer.add_to(writer)
        if extra is not None:
            extra(writer)

    return add


def _add_hparams(writer: gguf.GGUFWriter, shape: ModelShape) -> None:
    writer.add_block_count(shape.n_layer + 1)
    writer.add_nextn_predict_layers(1)
    writer.add_context_length(shape.context_length)
    writer.add_embedding_length(shape.n_embd)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_key_length(shape.head_dim)
    writer.add_value_length(shape.head_dim)
    writer.add_layer_norm_rms_eps(shape.rms_norm_eps)
    writer.add_rope_freq_base(shape.rope_freq_base)
    writer.add_rope_dimension_count(shape.n_rot)
    if shape.arch in ("qwen35", "qwen35moe"):
        writer.add_rope_dimension_sections(shape.rope_sections)

    writer.add_ssm_conv_kernel(shape.ssm_d_conv)
    writer.add_ssm_inner_size(shape.ssm_d_inner)
    writer.add_ssm_state_size(shape.ssm_d_state)
    writer.add_ssm_time_step_rank(shape.ssm_dt_rank)
    writer.add_ssm_group_count(shape.ssm_n_group)
    writer.add_full_attention_interval(shape.full_attention_interval)

    if shape.n_expert:
        writer.add_expert_count(shape.n_expert)
        writer.add_expert_used_count(shape.n_expert_used)
        writer.add_expert_feed_forward_length(shape.n_ff_exp)
        writer.add_expert_shared_feed_forward_length(shape.n_ff_shexp)
