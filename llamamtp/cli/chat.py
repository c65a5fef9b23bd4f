"""``llamamtp chat``: a conversation on stdin and stdout that keeps its history."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

import jinja2

from llamamtp.chat import BUILTIN_TEMPLATES, FROM_METADATA, render_chat_prompt
from llamamtp.cli.args import (
    Parser,
    add_context_arguments,
    add_draft_arguments,
    add_model_arguments,
    add_output_arguments,
    add_sampling_arguments,
    counted,
    int_in,
    one_line,
    stderr_print,
)
from llamamtp.cli.loading import UsageError, load_llama, resolve_model_path
from llamamtp.cli.streaming import (
    GenerationStats,
    InterruptFlag,
    Meter,
    PromptTooLongError,
    format_stats,
    prefill,
    stream_text,
    write_stdout,
)
from llamamtp.llama import Llama

NAME = "chat"
SUMMARY = "chat with a model; each line on stdin is one user message"
DEFAULT_MAX_TOKENS = 1024
COMMANDS_HELP = "/reset clears the history, /exit ends the chat (so does end of input)"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Return the parser of ``llamamtp chat``."""
    parser = Parser(
        prog=prog,
        description="Chat with a GGUF model through its chat template. Each line read from "
        f"stdin is one user message and the reply streams to stdout; {COMMANDS_HELP}. "
        "The conversation so far is the prompt of every reply, and the part already "
        "decoded is reused. On models with recurrent layers (Qwen3.5) reuse resumes from a "
        "checkpoint up to 8 tokens before the end of the previous prompt, and a turn that "
        "adds more than --n-batch tokens, and the turn after it, decode the whole "
        "conversation again. Ctrl-C during a reply stops it, prints the statistics and "
        "exits with status 130.",
    )
    add_model_arguments(parser)

    group = parser.add_argument_group("conversation")
    group.add_argument("--system", metavar="TEXT", help="system message (default: none)")
    group.add_argument(
        "-n",
        "--max-tokens",
        type=int_in(-1),
        default=DEFAULT_MAX_TOKENS,
        metavar="TOKENS",
        help=f"maximum tokens per reply; 0 or -1 generates until the end of the turn or a full "
        f"context (default: {DEFAULT_MAX_TOKENS})",
    )
    group.add_argument(
        "--chat-format",
        choices=[FROM_METADATA, *sorted(BUILTIN_TEMPLATES)],
        help="chat template: 'jinja' is the one in the model file, the others are built in "
        "(default: the model's own)",
    )

    add_sampling_arguments(parser)
    add_draft_arguments(parser)
    add_context_arguments(parser)
    add_output_arguments(parser)
    return parser


def read_messages() -> Iterator[str]:
    """Yield user lines: with a prompt and line editing on a terminal, plainly from a pipe."""
    if sys.stdin.isatty():
        try:
            import readline  # noqa: F401 - enables line editing and history in input()
        except ImportError:
            pass
        stderr_print(f"Type a message and press Enter; {COMMANDS_HELP}.")
        while True:
            try:
                yield input("> ")
            except EOFError:
                return
    else:
        for line in sys.stdin:
            yield line.rstrip("\n")


def prompt_tokens(llm: Llama, messages: list[dict[str, str]]) -> list[int]:
    """Tokenize the conversation as ``Llama.create_chat_completion`` does.

    If the two ever differ, nothing breaks: the ``Llama`` decodes the
    difference itself, without a progress bar.
    """
    prompt = render_chat_prompt(llm, messages)
    vocab = llm.model.vocab
    bos_text = ""
    if vocab.bos >= 0:
        bos_text = vocab.token_to_piece(vocab.bos, special=True).decode("utf-8", errors="ignore")
    # The template writes BOS itself when the model wants one.
    add_bos = vocab.add_bos and not (bos_text and prompt.startswith(bos_text))
    return vocab.tokenize(prompt, add_special=add_bos, parse_special=True)


def reply(
    llm: Llama, messages: list[dict[str, str]], args: argparse.Namespace
) -> tuple[str, GenerationStats]:
    """Stream the assistant's reply to stdout; return its text and statistics."""
    tokens = prompt_tokens(llm, messages)
    with InterruptFlag() as interrupt:
        meter = Meter(llm)
        if not prefill(llm, tokens, not args.quiet, interrupt):
            return "", meter.finish(len(tokens), "interrupted")
        chunks = llm.create_chat_completion(
            messages,
            max_tokens=args.max_tokens if args.max_tokens > 0 else None,
            temperature=args.temp,
            top_k=args.top_k,
            top_p=args.top_p,
            min_p=args.min_p,
            repeat_penalty=args.repeat_penalty,
            stream=True,
        )
        finish: list[str] = []
        text, interrupted = stream_text(_contents(chunks, finish), interrupt, write_stdout)
        finish_reason = "interrupted" if interrupted else (finish or ["length"])[-1]
        return text, meter.finish(len(tokens), finish_reason)


def _contents(chunks, finish: list[str]) -> Iterator[str]:
    for chunk in chunks:
        choice = chunk["choices"][0]
        if choice["finish_reason"] is not None:
            finish.append(choice["finish_reason"])
        yield choice["delta"].get("content", "")


def _summary(stats: GenerationStats) -> str:
    """Describe one reply in one line: its prompt, its length and speed, and its drafts."""
    text = f"[prompt: {counted(stats.n_prompt, 'token')}, {stats.n_prefilled} decoded; "
    text += f"reply: {counted(stats.n_generated, 'token')}"
    if stats.n_generated:
        text += f", {stats.tokens_per_second:.1f} tokens/s"
    if stats.n_drafted:
        text += f", acceptance rate {100 * stats.acceptance_rate:.0f} %"
    return text + f"; finish reason: {stats.finish_reason}]"


def run(args: argparse.Namespace) -> int:
    """Chat until end of input or /exit; return the exit status (130 after Ctrl-C)."""
    path = resolve_model_path(args)
    system = [{"role": "system", "content": args.system}] if args.system else []

    with load_llama(args, path) as llm:
        if llm.chat_format is None:
            raise UsageError(
                f"the model has no chat template; pass --chat-format with one of "
                f"{', '.join(sorted(BUILTIN_TEMPLATES))}"
            )
        messages = list(system)
        replies: list[GenerationStats] = []
        try:
            for line in read_messages():
                text = line.strip()
                if not text:
                    continue
                if text in ("/exit", "/quit"):
                    break
                if text == "/reset":
                    messages = list(system)
                    llm.reset()
                    stderr_print("history cleared")
                    continue
                if text.startswith("/") and text[1:].isalpha():
                    stderr_print(f"unknown command {text}; {COMMANDS_HELP}")
                    continue

                messages.append({"role": "user", "content": text})
                try:
                    answer, stats = reply(llm, messages, args)
                except PromptTooLongError as error:
                    messages.pop()
                    stderr_print(f"error: {error}; or /reset to clear the history")
                    continue
                except (ValueError, jinja2.TemplateError) as error:
                    # The template rejected the conversation: this turn fails, the chat goes on.
                    messages.pop()
                    stderr_print(f"error: {one_line(error)}")
                    continue
                write_stdout("\n")
                messages.append({"role": "assistant", "content": answer})
                replies.append(stats)
                if stats.finish_reason == "interrupted":
                    stderr_print("interrupted: reply stopped by Ctrl-C")
                    if not args.quiet:
                        _print_totals(replies, llm)
                    return 130
                if not args.quiet:
                    stderr_print(_summary(stats))
        except KeyboardInterrupt:
            # Ctrl-C while waiting for input.
            write_stdout("\n")
            if not args.quiet:
                _print_totals(replies, llm)
            return 130
        if not args.quiet:
            _print_totals(replies, llm)
    return 0


def _print_totals(replies: list[GenerationStats], llm: Llama) -> None:
    """Print the statistics of all replies together."""
    stderr_print(f"chat: {counted(len(replies), 'reply', 'replies')}")
    if not replies:
        return
    total = GenerationStats(
        n_prompt=sum(stats.n_prompt for stats in replies),
        n_prefilled=sum(stats.n_prefilled for stats in replies),
        prefill_seconds=sum(stats.prefill_seconds for stats in replies),
        n_generated=sum(stats.n_generated for stats in replies),
        generate_seconds=sum(stats.generate_seconds for stats in replies),
        n_steps=sum(stats.n_steps for stats in replies),
        n_drafted=sum(stats.n_drafted for stats in replies),
        n_accepted=sum(stats.n_accepted for stats in replies),
        finish_reason=replies[-1].finish_reason if replies else "none",
    )
    for line in format_stats(total, llm):
        stderr_print(line)
