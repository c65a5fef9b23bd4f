"""Run the automatic depth's controller on simulated generations, many per second.

A benchmark of ``auto`` on a 2-core machine needs half an hour for five
rounds, and one round can differ from the next by 10 %. This script drives the
real native controller (``llamamtp.depth.DepthController``) through
generations whose step costs come from measured benchmark rows and whose
accepted drafts come from an oracle model's cycle (or from random texts at a
given acceptance). Each generation also runs at plain decoding and at every
fixed depth on the same text, so the script reports what ``auto`` gives up
against the best fixed choice. It was used to tune the controller's
constants. Its results guide a change, and the benchmark
(``python -m llamamtp.bench``) judges it.

    python benchmarks/depth_simulation.py --costs 4B --alpha 0.95 --texts 60
    python benchmarks/depth_simulation.py --costs 4B --oracle oracle-4B-a0.95-Q4_K_M.gguf

With ``--oracle``, text 0 is the benchmark's own text: the prompt's last token
lies outside the cycle, so the generation starts at the cycle's first token.
The other texts start further along the cycle, as prompts ending in a cycle
token would.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
from dataclasses import dataclass
from pathlib import Path

from llamamtp.depth import DepthController


@dataclass(frozen=True)
class StepCosts:
    """Seconds of the parts of a step.

    Attributes:
        verify: a target pass over 1, 2, ... tokens (up to the deepest depth + 1).
        draft: one drafted token.
        catchup: the MTP context's catch-up, per token of a drafted step.
        sample: choosing one token.
        switch: what a target pass over 1, 2, ... tokens takes beyond verify
            right after a pass over another number of tokens (empty: nothing).
            simulate counts a negative value, a median of noisy timings, as 0.
    """

    verify: tuple[float, ...]
    draft: float
    catchup: float = 0.001
    sample: float = 0.0002
    switch: tuple[float, ...] = ()


# Fitted to the fixed-depth rows of docs/benchmarks.md (2 CPU threads): plain
# decoding's tokens/s gives the single-token pass, each fixed depth's tokens/s
# and accepted drafts per step give the cost of its step.
COSTS = {
    "4B": StepCosts(verify=(0.099, 0.165, 0.225, 0.283, 0.350), draft=0.010),
    "0.8B": StepCosts(verify=(0.033, 0.059, 0.073, 0.074, 0.091), draft=0.017),
    "tiny": StepCosts(verify=(0.002, 0.004, 0.0052, 0.0064, 0.0076), draft=0.0015),
    # Medians per step from benchmarks/step_costs.py on the 4B oracle at alpha
    # 0.95 (3 runs of 128 tokens per depth, 2 threads).
    "4B-steps": StepCosts(
        verify=(0.0698, 0.1262, 0.1634, 0.1920, 0.2501),
        draft=0.0095,
        catchup=0.00144,
        sample=0.00008,
    ),
    # A later run of the same script, which also timed passes right after a
    # change of width.
    "4B-switch": StepCosts(
        verify=(0.0720, 0.1287, 0.1752, 0.2005, 0.2477),
        draft=0.00955,
        catchup=0.00146,
        sample=0.000084,
        switch=(-0.0013, 0.0023, 0.0035, 0.0055, 0.0002),
    ),
}


def read_costs(path: Path) -> StepCosts:
    """Read step costs written by benchmarks/step_costs.py; raise ValueError if malformed."""
    try:
        data = json.loads(path.read_text())
        verify = tuple(float(seconds) for seconds in data["verify"])
        costs = StepCosts(verify=verify, draft=float(data["draft"]),
                          catchup=float(data["catchup"]), sample=float(data["sample"]))  # fmt: skip
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"expected the JSON of benchmarks/step_costs.py ({error!r}); write one with "
            "'python benchmarks/step_costs.py MODEL --output FILE'"
        ) from None
    # Files written before step_costs.py timed changes of width have no switch.
    switch = data.get("switch", [])
    all_numbers = isinstance(switch, list) and all(
        isinstance(seconds, (int, float)) and not isinstance(seconds, bool) for seconds in switch
    )
    if not all_numbers:
        raise ValueError(f"switch must be a list of seconds, got {switch!r}")
    costs = dataclasses.replace(costs, switch=tuple(float(seconds) for seconds in switch))
    parts = [*costs.verify, costs.draft, costs.catchup, costs.sample]
    if len(costs.verify) < 2 or min(costs.verify) <= 0.0 or not all(0.0 <= p < 1e3 for p in parts):
        raise ValueError(f"verify needs at least 2 positive timings and every cost must be "
                         f"seconds in [0, 1000), got {costs}")  # fmt: skip
    # A median difference, so noise can make it negative.
    if costs.switch and (len(costs.switch) != len(costs.verify)
                         or not all(-1e3 < s < 1e3 for s in costs.switch)):  # fmt: skip
        raise ValueError(f"switch needs one value in seconds (-1000, 1000) per verify timing, "
                         f"got {costs.switch} for {len(costs.verify)} verify timings")  # fmt: skip
    return costs


def random_texts(alpha: float, n_texts: int, n_tokens: int, seed: int) -> list[set[int]]:
    """Return texts whose drafts are each right with probability ``alpha``; see :func:`simulate`."""
    rng = random.Random(seed)
    return [{m for m in range(1, n_tokens + 8) if rng.random() > alpha} for _ in range(n_texts)]


def oracle_texts(path: Path, n_texts: int, n_tokens: int) -> list[set[int]]:
    """Return texts along an oracle model's cycle, text 0 from its start; see :func:`simulate`."""
    from llamamtp.synthetic import read_oracle

    oracle = read_oracle(path)
    length = oracle.cycle_length
    texts = []
    for i in range(n_texts):
        start = i * length // n_texts
        # The draft of token m comes from token m - 1, right where the head agrees.
        texts.append(
            {m for m in range(1, n_tokens + 8) if not oracle.agree[(start + m - 1) % length]}
        )
    return texts


def simulate(
    program: int | str, wrong: set[int], n_tokens: int, costs: StepCosts, noise: float,
    rng: random.Random, max_depth: int,
) -> tuple[float, list[int]]:  # fmt: skip
    """Generate ``n_tokens``; return tokens per second and the depth of every step.

    ``program`` is a fixed depth (0 = plain) or ``"auto"``. ``wrong`` contains the
    indices of the generated tokens whose draft is wrong. Every target pass
    takes its cost times a log-normal factor of spread ``noise``, plus
    ``costs.switch`` of its width (if positive) when the width changed. The
    first pass of a generation takes 30 % longer, as after loading a model.
    """
    controller = DepthController(max_depth) if program == "auto" else None
    if controller:
        # A session that drafts times one drafting pass when it opens.
        controller.observe_draft_pass(costs.draft)
    produced = 0
    seconds = 0.0
    depths = []
    while produced < n_tokens:
        limit = max(0, min(max_depth, n_tokens - produced - 1))
        depth = controller.choose(limit) if controller else min(int(program), limit)
        accepted = 0
        while accepted < depth and produced + accepted not in wrong:
            accepted += 1
        verify = costs.verify[depth] * rng.lognormvariate(0.0, noise)
        if not depths:
            verify *= 1.3
        elif depths[-1] != depth and depth < len(costs.switch):
            verify += max(0.0, costs.switch[depth])
        draft = depth * costs.draft
        catchup = (depth + 1) * costs.catchup if depth else 0.0
        sample = (accepted + 1) * costs.sample
        seconds += draft + verify + catchup + sample
        if controller:
            controller.observe(depth, accepted, draft, verify, catchup, sample)
        depths.append(depth)
        produced += accepted + 1
    if controller:
        controller.close()
    return produced / seconds, depths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    costs_source = parser.add_mutually_exclusive_group()
    costs_source.add_argument(
        "--costs",
        choices=sorted(COSTS),
        default="4B",
        help="measured step costs to use (default: 4B)",
    )
    costs_source.add_argument(
        "--costs-file",
        type=Path,
        help="step costs measured on this machine by benchmarks/step_costs.py, instead of --costs",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        help="draft acceptance of random texts (default: 0.95); cannot be combined with --oracle",
    )
    parser.add_argument(
        "--oracle", type=Path, help="take the texts from this oracle model's cycle instead"
    )
    parser.add_argument("--texts", type=int, default=60, help="texts to generate (default: 60)")
    parser.add_argument(
        "--n-tokens", type=int, default=128, help="tokens per generation (default: 128)"
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=0.05,
        help="log-normal spread of target-pass timings (default: 0.05)",
    )
    parser.add_argument(
        "--max-depth",
        type=int,
        help="deepest draft, in tokens (default: the deepest that the costs cover, 4 for the "
        "built-in ones)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--per-text",
        action="store_true",
        help="also print, for each text, auto ÷ its fastest fixed depth and auto's depth per step",
    )
    args = parser.parse_args(argv)
    # parser.error prints the message and exits with status 2.
    costs, covered = COSTS[args.costs], f"the {args.costs} costs cover"
    if args.costs_file:
        try:
            costs, covered = read_costs(args.costs_file), f"{args.costs_file} covers"
        except (OSError, ValueError) as error:
            parser.error(f"cannot read --costs-file {args.costs_file}: {error}")
    deepest = len(costs.verify) - 1
    if args.max_depth is None:
        args.max_depth = deepest
    if not 1 <= args.max_depth <= deepest:
        parser.error(
            f"--max-depth must be in [1, {deepest}] (the depths that {covered}), "
            f"got {args.max_depth}"
        )
    if args.texts < 1 or args.n_tokens < 1:
        parser.error(
            f"--texts and --n-tokens must be at least 1, got {args.texts} and {args.n_tokens}"
        )
    if args.oracle and args.alpha is not None:
        parser.error("--alpha sets the acceptance of random texts, so it has no effect with "
                     "--oracle; drop one of them")  # fmt: skip
    alpha = 0.95 if args.alpha is None else args.alpha
    if not 0.0 <= alpha <= 1.0:
        parser.error(f"--alpha must be in [0, 1], got {args.alpha}")
    # With a spread of 1, one pass in twenty already takes over 5 times its
    # cost, and a much larger spread overflows the log-normal draw.
    if not 0.0 <= args.noise <= 1.0:
        parser.error(f"--noise must be in [0, 1], got {args.noise}")

    if args.oracle:
        if not args.oracle.is_file():
            parser.error(f"oracle model not found or not a file: {args.oracle}")
        try:
            texts = oracle_texts(args.oracle, args.texts, args.n_tokens)
        except ValueError as error:
            parser.error(f"{error}. Write one with 'python -m llamamtp.synthetic oracle'.")
    else:
        texts = random_texts(alpha, args.texts, args.n_tokens, args.seed)
    programs: list[int | str] = [*range(args.max_depth + 1), "auto"]
    seconds = dict.fromkeys(programs, 0.0)
    ratios = []
    histogram = [0] * (args.max_depth + 1)
    rng = random.Random(args.seed)
    names = {program: f"{program} drafts" for program in programs}
    names.update({"auto": "auto", 0: "plain", 1: "1 draft"})
    for index, wrong in enumerate(texts):
        rates = {}
        auto_depths: list[int] = []
        for program in programs:
            rate, depths = simulate(
                program, wrong, args.n_tokens, costs, args.noise, rng, args.max_depth
            )
            rates[program] = rate
            seconds[program] += args.n_tokens / rate
            if program == "auto":
                auto_depths = depths
        for depth in auto_depths:
            histogram[depth] += 1
        fastest = max((p for p in programs if p != "auto"), key=rates.__getitem__)
        ratios.append(rates["auto"] / rates[fastest])
        if args.per_text:
            steps = "".join(str(depth) for depth in auto_depths)
            print(f"text {index}: auto ÷ {names[fastest]} {ratios[-1]:.3f}, depths {steps}")

    total = args.n_tokens * len(texts)
    for program in programs:
        print(f"{names[program]:>9}: {total / seconds[program]:7.2f} tokens/s")
    best = min((p for p in programs if p != "auto"), key=seconds.__getitem__)
    ratio = seconds[best] / seconds["auto"]
    print(f"auto ÷ fastest fixed ({names[best]}), over all texts: {ratio:.3f}")
    print(f"auto ÷ fastest fixed of each text: median {statistics.median(ratios):.3f}, "
          f"lowest {min(ratios):.3f}")  # fmt: skip
    print("steps per depth chosen by auto:", histogram)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
