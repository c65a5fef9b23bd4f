"""Command line: ``python -m llamamtp.synthetic {tiny,oracle} OUTPUT [options]``."""

from __future__ import annotations

import argparse
import logging
import sys

from llamamtp.errors import LlamaError
from llamamtp.synthetic.oracle import DEFAULT_ALPHA, DEFAULT_MARGIN, MAX_CYCLE_LENGTH, write_oracle
from llamamtp.synthetic.shapes import ARCHS, PRESETS
from llamamtp.synthetic.tiny import DEFAULT_LOGIT_SCALE, write_tiny
from llamamtp.synthetic.tokenizer import VOCAB_ENV, VOCAB_FILE


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m llamamtp.synthetic",
        description="Write synthetic Qwen3.5-family GGUF models with an MTP head, "
        "using the real Qwen tokenizer and chat template.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("output", help="path of the GGUF file to write; its folder must exist")
    common.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default: 0)")
    common.add_argument(
        "--vocab",
        metavar="PATH",
        help=f"Qwen tokenizer GGUF (default: ${VOCAB_ENV} when set, else the "
        f"{VOCAB_FILE} installed with llamamtp)",
    )
    common.add_argument("--quiet", action="store_true", help="no progress bar or log lines")

    commands = parser.add_subparsers(dest="command", required=True)

    tiny = commands.add_parser(
        "tiny",
        parents=[common],
        help="tiny random-weight model for tests",
        description="Tiny random-weight model: 3 Gated DeltaNet layers, 1 full-attention "
        "layer, 1 MTP block, n_embd 64.",
    )
    tiny.add_argument(
        "--arch", choices=ARCHS, default="qwen35", help="architecture (default: qwen35)"
    )
    tiny.add_argument(
        "--ftype",
        default="F32",
        help="F32, F16, or a quantization such as Q8_0 or Q4_K_M (default: F32)",
    )
    tiny.add_argument(
        "--logit-scale",
        type=float,
        default=DEFAULT_LOGIT_SCALE,
        help=f"standard deviation of the logits, in logit units (default: {DEFAULT_LOGIT_SCALE:g})",
    )

    oracle = commands.add_parser(
        "oracle",
        parents=[common],
        help="model with a known MTP acceptance rate",
        description="Oracle qwen35 model: greedy output follows a fixed cycle of tokens, "
        "and the MTP head guesses the next token right on a fraction ALPHA of the cycle.",
    )
    oracle.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="tiny",
        help="model size; 0.8B to 9B are Qwen3.5 dense shapes with a 248,320-token "
        "vocabulary (default: tiny)",
    )
    oracle.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"fraction of cycle tokens the MTP head predicts right, in [0, 1] "
        f"(default: {DEFAULT_ALPHA})",
    )
    oracle.add_argument(
        "--ftype",
        help="F32, F16, or a quantization such as Q8_0 or Q4_K_M "
        "(default: F32 for tiny, F16 otherwise)",
    )
    oracle.add_argument(
        "--quantize-from",
        choices=["F32", "F16"],
        default="F16",
        help="float type of the temporary file a quantized model is made from (default: F16)",
    )
    oracle.add_argument(
        "--cycle-length",
        type=int,
        help=f"tokens in the output cycle, from 2 to n_embd - 1 "
        f"(default: min({MAX_CYCLE_LENGTH}, n_embd - 1))",
    )
    oracle.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help=f"logit of the next token over all others, in logit units "
        f"(default: {DEFAULT_MARGIN:g})",
    )
    oracle.add_argument(
        "--threads",
        type=int,
        default=0,
        help="quantization threads (default: 0 = all cores)",
    )
    return parser


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run the command line; return the exit status.

    ``parser`` defaults to :func:`build_parser`'s; the ``llamamtp synthetic``
    command passes its renamed copy, so that errors name that command.
    """
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    progress = not args.quiet
    if progress:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        logging.getLogger("gguf").setLevel(logging.WARNING)

    try:
        if args.command == "tiny":
            path = write_tiny(
                args.output,
                args.arch,
                args.seed,
                ftype=args.ftype,
                logit_scale=args.logit_scale,
                vocab_path=args.vocab,
                progress=progress,
            )
        else:
            path = write_oracle(
                args.output,
                args.preset,
                args.alpha,
                args.seed,
                ftype=args.ftype,
                cycle_length=args.cycle_length,
                margin=args.margin,
                quantize_from=args.quantize_from,
                vocab_path=args.vocab,
                progress=progress,
                n_threads=args.threads,
            )
    except (ValueError, OSError, LlamaError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; no file was written", file=sys.stderr)
        return 130
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
