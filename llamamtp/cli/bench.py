"""``llamamtp bench``: the benchmark harness of ``python -m llamamtp.bench``, unchanged."""

from __future__ import annotations

import argparse

from llamamtp.bench import __main__ as bench_main
from llamamtp.cli.args import adapt_parser

NAME = "bench"
SUMMARY = "compare plain, fixed-depth and automatic MTP decoding with llama.cpp's own tools"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Return the harness's own parser, renamed to ``prog``, with one-line errors."""
    return adapt_parser(bench_main.build_parser(), prog)


def main(argv: list[str], parser: argparse.ArgumentParser) -> int:
    """Run the harness on ``argv``; its error messages start with ``parser.prog``."""
    return bench_main.main(argv, parser)
