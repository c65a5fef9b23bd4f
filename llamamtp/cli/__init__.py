"""The ``llamamtp`` command line: generate, chat, bench, info and synthetic.

Each subcommand lives in its own module with a ``build_parser(prog)`` and
either ``run(args)`` or, for the ones that wrap an existing command line
(``bench``, ``synthetic``), ``main(argv, parser)``. Errors the user can fix are
printed in one line: exit status 2 for invalid arguments, 1 for failures while
running, 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from llamamtp._version import __version__
from llamamtp.cli.args import Parser, one_line, report_usage_error
from llamamtp.cli.loading import UsageError
from llamamtp.errors import LlamaError

PROG = "llamamtp"

# Subcommand -> one-line summary; the modules are imported only when their command runs.
COMMANDS = {
    "generate": "complete a prompt and stream the text",
    "chat": "chat with a model; each line on stdin is one user message",
    "bench": "compare plain, fixed-depth and automatic MTP decoding with llama.cpp's own tools",
    "info": "show the build (llama.cpp commit, backends, devices) and a model's metadata",
    "synthetic": "write a synthetic Qwen3.5 GGUF model with an MTP head (tiny, or an oracle)",
}

# Failures with a message meant for the user; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError, LlamaError, NotImplementedError, ImportError)

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser, which lists the subcommands."""
    parser = Parser(
        prog=PROG,
        description="Run GGUF models through llama.cpp with Multi-Token Prediction (MTP) "
        "drafting. Run 'llamamtp COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Not required=True: main() reports an unknown option before a missing command.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in COMMANDS.items():
        commands.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return run_command(argv[0], argv[1:])
    parser = build_parser()
    # Exits after printing the help, the version or an invalid command; otherwise returns.
    args, extras = parser.parse_known_args(argv)
    if args.command is None:
        if extras:
            report_usage_error(parser, f"unrecognized arguments: {' '.join(extras)}")
        report_usage_error(parser, "the following arguments are required: COMMAND")

    # Unknown options came before the command, as in "llamamtp --bogus info".
    index = argv.index(args.command)
    report_usage_error(parser, f"unrecognized arguments: {' '.join(argv[:index])}")


def run_command(name: str, argv: list[str]) -> int:
    """Parse ``argv`` for subcommand ``name`` and run it; return the exit status."""
    prog = f"{PROG} {name}"
    module = importlib.import_module(f"llamamtp.cli.{name}")
    parser = module.build_parser(prog)
    args = parser.parse_args(argv)
    try:
        if hasattr(module, "main"):
            return module.main(argv, parser)
        return module.run(args)
    except UsageError as error:
        print(f"{prog}: error: {error} (see '{prog} --help')", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (for example `| head`); stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except USER_ERRORS as error:
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILURE
