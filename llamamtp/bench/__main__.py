"""Command line: python -m llamamtp.bench MODEL.gguf [options]."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llamamtp.bench.harness import (
    DEFAULT_PROMPT,
    DEFAULT_TOOLS_DIR,
    BenchConfig,
    programs_for,
    run_benchmark,
)
from llamamtp.bench.report import markdown_table, write_json, write_plot


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m llamamtp.bench",
        description="Compare llamamtp (plain, fixed MTP depths, auto) with native llama.cpp and "
        "llama-cpp-python on one model, interleaved, and report medians.",
    )
    parser.add_argument("model", type=Path, help="GGUF model file (with an MTP head for MTP rows)")
    parser.add_argument(
        "--depths",
        type=int,
        nargs="*",
        default=[1, 2, 3],
        help="fixed MTP draft depths to run, in tokens (default: 1 2 3)",
    )
    parser.add_argument("--no-auto", action="store_true", help="skip llamamtp's automatic depth")
    parser.add_argument(
        "--draft-n-max",
        type=int,
        default=4,
        help="deepest draft the automatic depth may choose, in tokens (default: 4)",
    )
    parser.add_argument(
        "--programs",
        nargs="+",
        default=["native", "llamamtp", "llama-cpp-python"],
        choices=["native", "llamamtp", "llama-cpp-python"],
        help="which libraries to run (default: all that are available)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs per program, interleaved (default: 5)"
    )
    parser.add_argument(
        "--n-tokens", type=int, default=64, help="tokens generated per run (default: 64)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    parser.add_argument(
        "--n-ctx", type=int, default=2048, help="context length in tokens (default: 2048)"
    )
    parser.add_argument(
        "--prompt", default=DEFAULT_PROMPT, help=f"prompt text (default: {DEFAULT_PROMPT!r})"
    )
    parser.add_argument(
        "--tools-dir",
        type=Path,
        default=DEFAULT_TOOLS_DIR,
        help=f"folder with llama-bench and llama-speculative-simple "
        f"(default: {DEFAULT_TOOLS_DIR}; build them with 'python build.py --tools')",
    )
    parser.add_argument(
        "--llama-cpp-python",
        default=sys.executable,
        metavar="PYTHON",
        help="interpreter with llama-cpp-python installed (default: this one)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("bench-results"),
        help="folder for results.md, results.json and results.png (default: bench-results)",
    )
    return parser  # fmt: skip


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run the benchmark; return the exit status.

    ``parser`` defaults to :func:`build_parser`'s; the ``llamamtp bench`` command
    passes its renamed copy, so that errors name that command.
    """
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    # parser.error prints the message and exits with status 2.
    if not args.model.exists():
        parser.error(f"model file not found: {args.model}")
    if not args.model.is_file():
        parser.error(f"model path is not a file: {args.model}")
    if args.repeats < 1 or args.n_tokens < 1:
        parser.error("--repeats and --n-tokens must be at least 1")

    config = BenchConfig(
        model=args.model, n_tokens=args.n_tokens, threads=args.threads, repeats=args.repeats,
        prompt=args.prompt, n_ctx=args.n_ctx, tools_dir=args.tools_dir,
        llama_cpp_python=args.llama_cpp_python, draft_n_max=args.draft_n_max,
    )  # fmt: skip
    programs = programs_for(config, args.depths, tuple(args.programs), auto=not args.no_auto)
    if not programs:
        print(
            f"{parser.prog}: error: none of the requested programs can run here "
            f"(the warnings above give the reason)",
            file=sys.stderr,
        )
        return 2

    run_benchmark(config, programs, progress=lambda line: print(line, file=sys.stderr, flush=True))

    table = markdown_table(programs)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.md").write_text(table + "\n", encoding="utf-8")
    write_json(args.output / "results.json", config, programs)
    title = f"{args.model.name}, {args.threads} threads, {args.n_tokens} tokens"
    write_plot(args.output / "results.png", programs, title)
    print(table)
    print(f"\nwritten to {args.output}/results.md, results.json, results.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
