"""``llamamtp generate``: complete one prompt and stream the text to stdout."""

from __future__ import annotations

import argparse
import sys

from llamamtp.cli.args import (
    Parser,
    add_context_arguments,
    add_draft_arguments,
    add_model_arguments,
    add_output_arguments,
    add_sampling_arguments,
    int_in,
    stderr_print,
)
from llamamtp.cli.loading import UsageError, load_llama, resolve_model_path
from llamamtp.cli.streaming import (
    InterruptFlag,
    Meter,
    format_stats,
    prefill,
    stream_text,
    write_stdout,
)

NAME = "generate"
SUMMARY = "complete a prompt and stream the text"
DEFAULT_MAX_TOKENS = 256


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Return the parser of ``llamamtp generate``."""
    parser = Parser(
        prog=prog,
        description="Complete a prompt with a GGUF model and stream the generated text to "
        "stdout; statistics go to stderr. A model with an MTP head drafts tokens with it. "
        "Ctrl-C stops generation, prints what was generated and the statistics, and exits "
        "with status 130.",
    )
    add_model_arguments(parser)

    group = parser.add_argument_group("prompt")
    source = group.add_mutually_exclusive_group()
    source.add_argument(
        "-p", "--prompt", help="prompt text (default: read it from --file or stdin)"
    )
    source.add_argument(
        "-f",
        "--file",
        metavar="PATH",
        help="read the prompt from a UTF-8 text file; '-' reads stdin "
        "(default: stdin when it is not a terminal)",
    )
    group.add_argument(
        "-n",
        "--max-tokens",
        type=int_in(-1),
        default=DEFAULT_MAX_TOKENS,
        metavar="TOKENS",
        help=f"maximum tokens to generate; 0 or -1 generates until the end of the text or a full "
        f"context (default: {DEFAULT_MAX_TOKENS})",
    )
    group.add_argument(
        "--stop",
        action="append",
        default=[],
        metavar="TEXT",
        help="stop before this text; repeat the option for several (default: none)",
    )
    group.add_argument(
        "--echo", action="store_true", help="print the prompt before the generated text"
    )

    add_sampling_arguments(parser)
    add_draft_arguments(parser)
    add_context_arguments(parser)
    add_output_arguments(parser)
    return parser


def read_prompt(args: argparse.Namespace) -> str:
    """Return the prompt from --prompt, --file or stdin."""
    if args.prompt is not None:
        return args.prompt
    if args.file == "-" or (args.file is None and not sys.stdin.isatty()):
        return sys.stdin.read()
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as stream:
                return stream.read()
        except FileNotFoundError:
            raise UsageError(f"prompt file not found: {args.file}") from None
    raise UsageError("missing prompt: pass --prompt TEXT, --file PATH, or pipe text to stdin")


def run(args: argparse.Namespace) -> int:
    """Generate; return the exit status (130 when Ctrl-C stopped generation)."""
    path = resolve_model_path(args)
    prompt = read_prompt(args)
    show = not args.quiet

    with load_llama(args, path) as llm:
        vocab = llm.model.vocab
        # The same tokenization Llama applies to a text prompt.
        tokens = vocab.tokenize(prompt, add_special=vocab.add_bos, parse_special=True)
        with InterruptFlag() as interrupt:
            meter = Meter(llm)
            interrupted = not prefill(llm, tokens, show, interrupt)
            finish_reason = "interrupted"
            if not interrupted:
                if args.echo:
                    write_stdout(prompt)
                chunks = llm.create_completion(
                    tokens if tokens else prompt,
                    max_tokens=args.max_tokens,
                    temperature=args.temp,
                    top_k=args.top_k,
                    top_p=args.top_p,
                    min_p=args.min_p,
                    repeat_penalty=args.repeat_penalty,
                    stop=args.stop or None,
                    stream=True,
                )
                finish = []
                _, interrupted = stream_text(_texts(chunks, finish), interrupt, write_stdout)
                finish_reason = "interrupted" if interrupted else (finish or ["length"])[-1]
            stats = meter.finish(len(tokens), finish_reason)

        write_stdout("\n")
        if interrupted:
            stderr_print("interrupted: generation stopped by Ctrl-C")
        if show:
            for line in format_stats(stats, llm):
                stderr_print(line)
    return 130 if interrupted else 0


def _texts(chunks, finish: list[str]):
    """Yield the text of completion chunks; append the finish reason to ``finish``."""
    for chunk in chunks:
        choice = chunk["choices"][0]
        if choice["finish_reason"] is not None:
            finish.append(choice["finish_reason"])
        yield choice["text"]
