"""Time consecutive generations of one session: ``auto`` against a fixed depth.

The benchmark (``python -m llamamtp.bench``) runs one generation per fresh
process, so ``auto`` pays for its start every time: plain steps timed first,
then each depth tried once. A notebook, a server or a ``Llama`` object keeps
one session for many generations, and the controller keeps its estimates
between them. This script opens, in one process and in alternating order, an
``auto`` session and a session at a fixed depth. Each generates from the same
prompt several times (``reset`` and ``prefill`` in between). It prints, per
round and per generation, ``auto``'s tokens/s divided by the fixed depth's,
and the steps ``auto`` spent at each depth in that generation.

    python benchmarks/session_generations.py oracle-4B-a0.95-Q4_K_M.gguf --rounds 8

With ``--oracle-start N`` (oracle models only) the prompt ends with token N of
the oracle's cycle, so the generation follows the cycle from token N + 1. That
puts the wrong drafts where an experiment needs them. From token 17 of the 4B
alpha 0.95 oracle, the draft of the fifth generated token is wrong, where the
first probes fall, and the next wrong draft comes 68 tokens later.

    python benchmarks/session_generations.py oracle-4B-a0.95-Q4_K_M.gguf \
        --generations 1 --oracle-start 17
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from llamamtp import Session
from llamamtp.bench.harness import DEFAULT_PROMPT
from llamamtp.synthetic import read_oracle


def generations(
    model: Path, n_draft: int | str, args: argparse.Namespace
) -> list[tuple[float, tuple[int, ...] | None]]:
    """Return the tokens/s and depth histogram (``auto`` only) of each generation of one session."""
    results = []
    with Session(model, n_draft=n_draft, draft_n_max=args.draft_n_max, n_ctx=args.n_ctx,
                 n_threads=args.threads) as session:  # fmt: skip
        prompt = session.vocab.tokenize(args.prompt, add_special=True, parse_special=True)
        prompt += args.cycle_tokens
        before = None
        for _ in range(args.generations):
            session.reset()
            session.prefill(prompt)
            start = time.perf_counter()
            n_tokens = sum(1 for _ in session.generate(max_tokens=args.n_tokens))
            seconds = time.perf_counter() - start
            histogram = None
            if session.depth_stats is not None:
                total = session.depth_stats.histogram
                histogram = total
                if before is not None:
                    histogram = tuple(a - b for a, b in zip(total, before, strict=True))
                before = total
            results.append((n_tokens / seconds, histogram))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="GGUF model file with an MTP head")
    parser.add_argument(
        "--depth", type=int, default=3, help="fixed depth to compare with (default: 3)"
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds (default: 6)")
    parser.add_argument(
        "--generations", type=int, default=2, help="generations per session (default: 2)"
    )
    parser.add_argument(
        "--n-tokens", type=int, default=128, help="tokens per generation (default: 128)"
    )
    parser.add_argument(
        "--draft-n-max", type=int, default=4, help="deepest draft of auto (default: 4)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    parser.add_argument("--n-ctx", type=int, default=2048, help="context length (default: 2048)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="prompt text")
    parser.add_argument(
        "--oracle-start", type=int, default=None,
        help="oracle models only: end the prompt with token N (0 to the cycle's length - 1) "
        "of the repeating token cycle the oracle generates",
    )  # fmt: skip
    args = parser.parse_args(argv)
    positive = (
        ("--rounds", args.rounds),
        ("--generations", args.generations),
        ("--n-tokens", args.n_tokens),
        ("--draft-n-max", args.draft_n_max),
        ("--threads", args.threads),
    )
    for option, value in positive:
        if value < 1:
            parser.error(f"{option} must be at least 1, got {value}")
    if args.depth < 1 or args.depth > args.draft_n_max:
        parser.error(
            f"--depth must be between 1 and --draft-n-max={args.draft_n_max}, got {args.depth}"
        )
    if not args.model.is_file():
        parser.error(f"model file not found: {args.model}")
    args.cycle_tokens = []
    if args.oracle_start is not None:
        try:
            cycle = read_oracle(args.model).cycle
        except ValueError as error:
            parser.error(f"--oracle-start needs an oracle model: {error}")
        if not 0 <= args.oracle_start < len(cycle):
            parser.error(
                f"--oracle-start must be between 0 and {len(cycle) - 1} "
                f"(the cycle's length minus 1), got {args.oracle_start}"
            )
        args.cycle_tokens = [cycle[args.oracle_start]]

    print(f"per generation: auto tokens/s / {args.depth} drafts tokens/s = ratio, "
          f"then auto's steps at depth 0, 1, ... {args.draft_n_max}")  # fmt: skip
    ratios: list[list[float]] = [[] for _ in range(args.generations)]
    for round_index in range(args.rounds):
        programs = ["auto", args.depth] if round_index % 2 == 0 else [args.depth, "auto"]
        try:
            results = {program: generations(args.model, program, args) for program in programs}
        except ValueError as error:
            # Raised for a model without an MTP head, for example.
            parser.error(str(error))
        cells = []
        pairs = zip(results["auto"], results[args.depth], strict=True)
        for i, ((auto_rate, histogram), (fixed_rate, _)) in enumerate(pairs):
            ratio = auto_rate / fixed_rate
            ratios[i].append(ratio)
            cells.append(
                f"generation {i + 1}: {auto_rate:.2f} / {fixed_rate:.2f} = {ratio:.3f} {histogram}"
            )
        print(f"round {round_index + 1}: " + " | ".join(cells), flush=True)
    for i, values in enumerate(ratios):
        per_round = ", ".join(f"{v:.3f}" for v in values)
        median = statistics.median(values)
        print(f"generation {i + 1}: median {median:.3f} (per round {per_round})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
