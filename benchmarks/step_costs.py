"""Measure what each part of a step costs on this machine, for the depth simulation.

``benchmarks/depth_simulation.py`` drives the automatic depth's controller
with fixed step costs. Most of its built-in costs were fitted to benchmark
rows of one 2-core machine. The controller's choices depend on how the costs
of the batch widths compare. Where a pass over 5 tokens costs little more
than one over 4, for example, 3 and 4 drafts come out nearly even. This script runs
generations at plain decoding and at each fixed depth, each in a fresh
process as the benchmark does. It reads every step's times from
``session.stats`` and writes their medians as a JSON file, which the
simulation reads with ``--costs-file``. One more generation per run changes
the width every few steps, in a new order each time, because a pass right
after a pass of another width can cost more: llama.cpp reuses the previous
pass's compute graph only when the width stays the same. Run the script on
an otherwise idle machine. Other work on the same cores can move a median
many times over, far more than the differences between widths that the
controller weighs. The script prints each width's quartiles and warns when a
wider pass timed no slower than a narrower one.

    python benchmarks/step_costs.py oracle-4B-a0.95-Q4_K_M.gguf --output 4b.json
    python benchmarks/depth_simulation.py --costs-file 4b.json --oracle oracle-4B-a0.95-Q4_K_M.gguf
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
from pathlib import Path

from llamamtp.bench.harness import DEFAULT_PROMPT


def measure_steps(args: argparse.Namespace) -> list[dict]:
    """Generate at one fixed depth; return each step's drafted, accepted and seconds per part."""
    from llamamtp import Session

    steps = []
    with Session(args.model, n_draft=args.depth, draft_n_max=args.draft_n_max, n_ctx=args.n_ctx,
                 n_threads=args.threads) as session:  # fmt: skip
        prompt = session.vocab.tokenize(args.prompt, add_special=True, parse_special=True)
        session.prefill(prompt)
        n_generated = 0
        while n_generated < args.n_tokens:
            before = session.stats
            tokens = session.step(max_tokens=args.n_tokens - n_generated)
            after = session.stats
            n_generated += len(tokens)
            steps.append({
                "drafted": after.n_drafted - before.n_drafted,
                "accepted": after.n_accepted - before.n_accepted,
                "draft": after.t_draft - before.t_draft,
                "verify": after.t_verify - before.t_verify,
                "catchup": after.t_catchup - before.t_catchup,
                "sample": after.t_sample - before.t_sample,
            })  # fmt: skip
    return steps


# Passes per width in a row when measure_switches changes the width.
BLOCK = 3


def measure_switches(args: argparse.Namespace) -> list[dict]:
    """Generate in blocks of BLOCK passes of one width, the widths in a new order each
    cycle, for --n-tokens tokens and at least two cycles, or until the context is full.

    Return each target pass's width, the previous pass's width and its seconds.
    """
    from llamamtp import Session
    from llamamtp.errors import ContextFullError

    passes = []
    order = random.Random(args.worker_switches)
    with Session(args.model, n_draft=args.max_depth, draft_n_max=args.draft_n_max, n_ctx=args.n_ctx,
                 n_threads=args.threads) as session:  # fmt: skip
        prompt = session.vocab.tokenize(args.prompt, add_special=True, parse_special=True)
        session.prefill(prompt)
        n_generated = 0
        n_cycles = 0
        previous = 0  # no pass yet: the first one is a warm-up and is not kept
        # From the second cycle on, every width has passes after another width.
        while n_cycles < 2 or n_generated < args.n_tokens:
            widths = list(range(1, args.max_depth + 2))
            order.shuffle(widths)
            if widths[0] == previous:
                widths.append(widths.pop(0))
            for width in [w for w in widths for _ in range(BLOCK)]:
                if n_cycles >= 2 and n_generated >= args.n_tokens:
                    break
                before = session.stats
                try:
                    tokens = session.step(n_draft=width - 1, max_tokens=width)
                except ContextFullError:
                    # Two cycles may need more room than --n-tokens. switch_costs
                    # then reports a width that got too few passes.
                    return passes
                after = session.stats
                n_generated += len(tokens)
                actual = after.n_drafted - before.n_drafted + 1
                if previous:
                    passes.append({"width": actual, "previous": previous,
                                   "verify": after.t_verify - before.t_verify})  # fmt: skip
                previous = actual
            n_cycles += 1
    return passes


def switch_costs(passes: list[dict], max_depth: int) -> list[float]:
    """Return, by width, the median seconds a target pass takes beyond its median after
    a pass of the same width, when it follows a pass of another width."""
    extra = []
    for width in range(1, max_depth + 2):
        of_width = [p for p in passes if p["width"] == width]
        same = [p["verify"] for p in of_width if p["previous"] == width]
        other = [p["verify"] for p in of_width if p["previous"] != width]
        if not same or not other:
            raise RuntimeError(f"too few passes over {width} tokens: the context filled up "
                               f"before every width was timed after another width and after "
                               f"itself, so raise --n-ctx")  # fmt: skip
        extra.append(statistics.median(other) - statistics.median(same))
    return extra


def verify_timings(steps: list[dict], max_depth: int) -> list[list[float]]:
    """Return the target pass's seconds of every step, by width (index 0: one token)."""
    timings = []
    for depth in range(max_depth + 1):
        width = [step["verify"] for step in steps if step["drafted"] == depth]
        if not width:
            raise RuntimeError(f"no step drafted {depth} tokens; generate more tokens (--n-tokens)")
        timings.append(width)
    return timings


def quartiles(timings: list[float]) -> tuple[float, float]:
    """Return the lower and upper quartile; a single timing is both."""
    if len(timings) < 2:
        return timings[0], timings[0]
    lower, _, upper = statistics.quantiles(timings, n=4)
    return lower, upper


def has_mtp_head(model: Path) -> bool:
    """Return True when the GGUF metadata gives the model NextN (MTP) layers."""
    from llamamtp import Model

    with Model(model, vocab_only=True) as vocab_model:
        metadata = vocab_model.metadata
    layers = [value for key, value in metadata.items() if key.endswith(".nextn_predict_layers")]
    return any(value.isdigit() and int(value) > 0 for value in layers)


def run_worker(args: argparse.Namespace, depth: int | None, run: int) -> list[dict]:
    """Run measure_steps at depth, or measure_switches if depth is None, in a fresh
    process, as the benchmark runs each generation."""
    if depth is None:
        worker = ["--worker-switches", str(run)]
    else:
        worker = ["--worker-depth", str(depth)]
    command = [
        sys.executable, __file__, str(args.model), *worker,
        "--n-tokens", str(args.n_tokens), "--threads", str(args.threads),
        "--n-ctx", str(args.n_ctx), "--draft-n-max", str(args.draft_n_max),
        "--max-depth", str(args.max_depth), "--prompt", args.prompt,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        label = f"at depth {depth}" if depth is not None else "that changes the width"
        raise RuntimeError(f"the generation {label} failed: {lines[-1]}")
    return json.loads(result.stdout)


def step_costs(steps: list[dict], max_depth: int) -> dict:
    """Return the median costs, in seconds, in the shape of the simulation's StepCosts.

    verify[w - 1] is a target pass over w tokens, from the steps that drafted
    w - 1 tokens. draft is one drafted token, and catchup the MTP context's
    catch-up per token of a drafted step. sample is choosing one token. The
    caller adds switch (see switch_costs).
    """
    verify = [statistics.median(width) for width in verify_timings(steps, max_depth)]
    # Not empty: max_depth is at least 1, and verify_timings found those steps.
    drafted = [step for step in steps if step["drafted"] > 0]
    return {
        "verify": verify,
        "draft": statistics.median(s["draft"] / s["drafted"] for s in drafted),
        "catchup": statistics.median(s["catchup"] / (s["drafted"] + 1) for s in drafted),
        "sample": statistics.median(s["sample"] / (s["accepted"] + 1) for s in steps),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="GGUF model file with an MTP head")
    parser.add_argument(
        "--max-depth", type=int, default=4,
        help="deepest fixed depth to time; every depth from plain up to it is run (default: 4)",
    )  # fmt: skip
    parser.add_argument(
        "--runs", type=int, default=3,
        help="generations per depth, interleaved, each round with one more that changes the "
        "width: at least two cycles of 3 passes per width, which can take more than --n-tokens "
        "(default: 3)",
    )  # fmt: skip
    parser.add_argument(
        "--n-tokens", type=int, default=128, help="tokens per generation (default: 128)"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="CPU threads, at least 1 (default: 2)"
    )
    parser.add_argument("--n-ctx", type=int, default=2048, help="context length (default: 2048)")
    parser.add_argument(
        "--draft-n-max", type=int, default=4,
        help="draft_n_max of every session: a session that drafts times one pass over "
        "draft_n_max + 1 tokens when it opens, so keep the benchmark's value (default: 4)",
    )  # fmt: skip
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="prompt text")
    parser.add_argument("--output", type=Path, help="write the costs to this JSON file")
    parser.add_argument("--worker-depth", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-switches", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"model file not found: {args.model}")

    if args.worker_depth is not None:
        args.depth = args.worker_depth
        print(json.dumps(measure_steps(args)))
        return 0
    if args.worker_switches is not None:
        print(json.dumps(measure_switches(args)))
        return 0

    if args.draft_n_max < 1:
        parser.error(f"--draft-n-max must be at least 1, got {args.draft_n_max}")
    if not 1 <= args.max_depth <= args.draft_n_max:
        parser.error(f"--max-depth must be in [1, {args.draft_n_max}] (--draft-n-max), "
                     f"got {args.max_depth}")  # fmt: skip
    if args.runs < 1 or args.n_tokens < 2 or args.threads < 1:
        parser.error(f"--runs and --threads must be at least 1 and --n-tokens at least 2, "
                     f"got {args.runs}, {args.threads} and {args.n_tokens}")  # fmt: skip
    if not has_mtp_head(args.model):
        parser.error(f"model {args.model} has no MTP (NextN) layers; this script times "
                     f"drafted steps, so it needs a model with an MTP head")  # fmt: skip

    # None: the generation that changes the width.
    programs: list[int | None] = [*range(args.max_depth + 1), None]
    steps = []
    passes = []
    try:
        for run in range(args.runs):
            # Rotate the order, so a slow drift of the machine affects every program alike.
            shift = run % len(programs)
            for depth in programs[shift:] + programs[:shift]:
                label = f"depth {depth}" if depth is not None else "changing widths"
                print(f"run {run + 1}/{args.runs}: {label}", file=sys.stderr)
                if depth is None:
                    passes += run_worker(args, None, run)
                else:
                    steps += run_worker(args, depth, run)
        costs = step_costs(steps, args.max_depth)
        costs["switch"] = switch_costs(passes, args.max_depth)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    timings = verify_timings(steps, args.max_depth)
    for width, seconds in enumerate(costs["verify"], start=1):
        lower, upper = quartiles(timings[width - 1])
        print(f"target pass over {width} token{'s' if width > 1 else ''}: {1000 * seconds:8.2f} ms "
              f"(quartiles {1000 * lower:.2f} to {1000 * upper:.2f}), "
              f"{1000 * costs['switch'][width - 1]:+.2f} ms after another width")  # fmt: skip
    verify = costs["verify"]
    for width in range(2, len(verify) + 1):
        if verify[width - 1] <= verify[width - 2]:
            print(f"warning: a pass over {width} tokens timed no slower than one over "
                  f"{width - 1}; the machine was likely busy, so run again when it is "
                  f"idle", file=sys.stderr)  # fmt: skip
    for part in ("draft", "catchup", "sample"):
        print(f"{part} per token: {1000 * costs[part]:8.3f} ms")
    if args.output:
        args.output.write_text(json.dumps(costs, indent=2) + "\n")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
