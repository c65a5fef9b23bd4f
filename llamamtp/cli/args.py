"""Argument parsing shared by the subcommands: one-line errors, value types, option groups."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from llamamtp.llama import DEFAULT_DRAFT_N_MAX
from llamamtp.session import MAX_DRAFT

# Defaults of the generation options, shared by generate and chat.
DEFAULT_N_CTX = 4096
DEFAULT_N_BATCH = 512
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_K = 40
DEFAULT_TOP_P = 0.95
DEFAULT_MIN_P = 0.05
DEFAULT_REPEAT_PENALTY = 1.0
DRAFT_MODES = ("auto", "mtp", "off")
# LLAMA_DEFAULT_SEED (0xFFFFFFFF) means "pick a random seed", so it is not a valid --seed.
MAX_SEED = 0xFFFFFFFE


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that reports a usage error in one line and exits with status 2."""

    def error(self, message: str) -> NoReturn:
        report_usage_error(self, message)


def report_usage_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """Print ``PROG: error: MESSAGE`` and a pointer to ``--help`` on one line, then exit 2."""
    parser.exit(2, f"{parser.prog}: error: {message} (see '{parser.prog} --help')\n")


def adapt_parser(parser: argparse.ArgumentParser, prog: str) -> argparse.ArgumentParser:
    """Rename a parser built elsewhere to ``prog`` and give it and its subcommands one-line errors.

    Used for ``python -m llamamtp.bench`` and ``python -m llamamtp.synthetic``,
    whose parsers the ``bench`` and ``synthetic`` subcommands reuse unchanged.
    """
    old_prog = parser.prog
    pending = [parser]
    while pending:
        current = pending.pop()
        current.prog = current.prog.replace(old_prog, prog, 1)
        # Bind per instance: these parsers are plain argparse.ArgumentParser objects.
        current.error = lambda message, current=current: report_usage_error(current, message)
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
    return parser


# Value types: each raises ArgumentTypeError, which argparse reports as "invalid value".


def int_in(low: int, high: int | None = None):
    """Return an argparse type that accepts integers in ``[low, high]`` (no upper bound if None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


def float_in(low: float, high: float | None = None):
    """Return an argparse type that accepts floats in ``[low, high]`` (no upper bound if None)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value != value or value < low or (high is not None and value > high):
            bounds = f"[{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value

    return parse


# Option groups.


def add_model_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """Add the model file argument and the Hugging Face Hub alternative to it."""
    parser.add_argument(
        "model",
        nargs="?",
        help="path of a GGUF model file"
        + ("" if required else " (optional)")
        + "; omit it when --hf-repo is given",
    )
    group = parser.add_argument_group(
        "Hugging Face Hub",
        "Download the model instead of passing a path (needs pip install 'llamamtp[hub]'). "
        "huggingface_hub caches the file and shows its own progress bar; set HF_HUB_OFFLINE=1 "
        "to use only the cache.",
    )
    group.add_argument(
        "--hf-repo",
        metavar="REPO_ID",
        help="repository to download from, as org/name (default: none, use the model path)",
    )
    group.add_argument(
        "--hf-file",
        metavar="PATTERN",
        help="file name or glob in that repository that matches exactly one GGUF file, "
        "for example '*Q4_K_M.gguf' (default: none)",
    )


def add_context_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that size the context and place the model."""
    group = parser.add_argument_group("context")
    group.add_argument(
        "-c",
        "--n-ctx",
        type=int_in(0),
        default=DEFAULT_N_CTX,
        metavar="TOKENS",
        help=f"context length in tokens; 0 uses the model's training context "
        f"(default: {DEFAULT_N_CTX})",
    )
    group.add_argument(
        "-b",
        "--n-batch",
        type=int_in(1),
        default=DEFAULT_N_BATCH,
        metavar="TOKENS",
        help=f"tokens per prompt-processing batch, and per step of the prompt progress bar; "
        f"at least --draft-n-max + 2 when drafting (default: {DEFAULT_N_BATCH})",
    )
    group.add_argument(
        "-t",
        "--threads",
        type=int_in(1),
        default=None,
        metavar="N",
        help="CPU threads (default: llama.cpp's choice, the number of cores up to 4)",
    )
    group.add_argument(
        "-ngl",
        "--n-gpu-layers",
        type=int_in(-1),
        default=0,
        metavar="N",
        help="layers to offload to the GPU; -1 offloads all (default: 0, CPU only)",
    )
    group.add_argument(
        "--flash-attn", action="store_true", help="use flash attention (default: off)"
    )


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sampling options (llama-cpp-python's arguments of the same names)."""
    group = parser.add_argument_group("sampling")
    group.add_argument(
        "--temp",
        type=float_in(0.0),
        default=DEFAULT_TEMPERATURE,
        metavar="T",
        help=f"temperature; 0 picks the most likely token (greedy) "
        f"(default: {DEFAULT_TEMPERATURE:g})",
    )
    group.add_argument(
        "--top-k",
        type=int_in(0),
        default=DEFAULT_TOP_K,
        metavar="K",
        help=f"keep the K most likely tokens; 0 keeps all (default: {DEFAULT_TOP_K})",
    )
    group.add_argument(
        "--top-p",
        type=float_in(0.0, 1.0),
        default=DEFAULT_TOP_P,
        metavar="P",
        help=f"keep the most likely tokens up to total probability P (default: {DEFAULT_TOP_P:g})",
    )
    group.add_argument(
        "--min-p",
        type=float_in(0.0, 1.0),
        default=DEFAULT_MIN_P,
        metavar="P",
        help=f"drop tokens less likely than P times the most likely one "
        f"(default: {DEFAULT_MIN_P:g})",
    )
    group.add_argument(
        "--repeat-penalty",
        type=float_in(1e-6),
        default=DEFAULT_REPEAT_PENALTY,
        metavar="X",
        help=f"divide the logits of recently generated tokens by X; 1 is off "
        f"(default: {DEFAULT_REPEAT_PENALTY:g})",
    )
    group.add_argument(
        "-s",
        "--seed",
        type=int_in(0, MAX_SEED),
        default=None,
        metavar="N",
        help="random seed, 0 to 4294967294, for repeatable sampling (default: a new seed each run)",
    )


def add_draft_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the MTP drafting options."""
    group = parser.add_argument_group(
        "MTP drafting",
        "The output is the same in every mode; only the speed differs.",
    )
    group.add_argument(
        "--draft",
        choices=DRAFT_MODES,
        default="auto",
        help="auto: draft with the model's MTP head and pick the depth (0 included) per step "
        "from measured speed; mtp: always draft --draft-n-max tokens (needs an MTP head); "
        "off: plain decoding (default: auto)",
    )
    group.add_argument(
        "--draft-n-max",
        type=int_in(1, MAX_DRAFT),
        default=DEFAULT_DRAFT_N_MAX,
        metavar="TOKENS",
        help=f"maximum tokens drafted per step, 1 to {MAX_DRAFT} (default: {DEFAULT_DRAFT_N_MAX})",
    )


def add_output_arguments(
    parser: argparse.ArgumentParser,
    quiet_help: str = "print only the generated text: no progress bars and no statistics",
) -> None:
    """Add --quiet and --verbose."""
    group = parser.add_argument_group("output")
    group.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
    group.add_argument(
        "-v", "--verbose", action="store_true", help="print llama.cpp's log to stderr"
    )


def stderr_print(*values: object) -> None:
    """Print to stderr and flush, so messages interleave correctly with streamed text."""
    print(*values, file=sys.stderr, flush=True)


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``count`` and the noun in the matching number: "1 reply", "2 replies"."""
    if count == 1:
        return f"{count} {singular}"
    return f"{count} {plural or singular + 's'}"


def one_line(error: BaseException) -> str:
    """Return the message of ``error`` on one line (its type name when it has no message)."""
    text = " ".join(str(error).split())
    return text or type(error).__name__
