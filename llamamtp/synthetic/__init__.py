"""Synthetic Qwen3.5-family GGUF models with an MTP head, for tests and benchmarks.

Two kinds, both with the real Qwen tokenizer and chat template:

- :func:`write_tiny`: tiny random-weight qwen35, qwen35moe and qwen3next models
  that exercise every code path (Gated DeltaNet, full attention, MoE, the MTP
  block) in a few milliseconds per token.
- :func:`write_oracle`: qwen35 models of tiny or real Qwen3.5 size whose greedy
  output follows a known cycle and whose MTP drafts are accepted at a chosen
  rate ``alpha``; :func:`read_oracle` returns the cycle.

``python -m llamamtp.synthetic --help`` offers the same from the command line.
"""

from llamamtp.synthetic.oracle import DEFAULT_ALPHA, Oracle, read_oracle, write_oracle
from llamamtp.synthetic.shapes import ARCHS, PRESETS, TINY_SHAPES, ModelShape
from llamamtp.synthetic.tiny import DEFAULT_LOGIT_SCALE, write_tiny
from llamamtp.synthetic.tokenizer import find_chat_template_path, find_vocab_path

__all__ = [
    "ARCHS",
    "DEFAULT_ALPHA",
    "DEFAULT_LOGIT_SCALE",
    "PRESETS",
    "TINY_SHAPES",
    "ModelShape",
    "Oracle",
    "find_chat_template_path",
    "find_vocab_path",
    "read_oracle",
    "write_oracle",
    "write_tiny",
]
