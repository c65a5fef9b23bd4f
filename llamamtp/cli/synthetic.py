"""``llamamtp synthetic``: the model generator of ``python -m llamamtp.synthetic``, unchanged.

With ``tqdm`` installed (a dependency of llamamtp) the generator shows a
progress bar while it writes tensor data.
"""

from __future__ import annotations

import argparse

from llamamtp.cli.args import adapt_parser
from llamamtp.synthetic import __main__ as synthetic_main

NAME = "synthetic"
SUMMARY = "write a synthetic Qwen3.5 GGUF model with an MTP head (tiny, or an oracle)"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Return the generator's own parser, renamed to ``prog``, with one-line errors."""
    return adapt_parser(synthetic_main.build_parser(), prog)


def main(argv: list[str], parser: argparse.ArgumentParser) -> int:
    """Run the generator on ``argv``; its error messages start with ``parser.prog``."""
    return synthetic_main.main(argv, parser)
