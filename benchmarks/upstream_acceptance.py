"""Check an oracle model's MTP acceptance with upstream's llama-speculative-simple.

The script builds nothing. Build upstream's tools first with

    python build.py --tools

which puts ``llama-speculative-simple`` in ``build/cmake/bin``. Then, for example:

    python -m llamamtp.synthetic oracle /work/models/oracle-0.8B.gguf --preset 0.8B --ftype Q8_0
    python benchmarks/upstream_acceptance.py /work/models/oracle-0.8B.gguf --n-draft 1 3

For each draft length it runs ``llama-speculative-simple --spec-type draft-mtp`` at
temperature 0 and compares the reported draft and acceptance counts with two
predictions: ``alpha`` itself, and an exact replay of the same draft, verify and
accept loop on the oracle's next-token functions (``Oracle.simulate_speculative``).
The exit status is 1 when upstream's counts differ from the replay.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import llamamtp
from llamamtp.synthetic import read_oracle

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = ROOT / "build" / "cmake" / "bin" / "llama-speculative-simple"
DEFAULT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."

_DRAFTED = re.compile(r"n_drafted\s*=\s*(\d+)")
_ACCEPTED = re.compile(r"n_accept\s*=\s*(\d+)")
_DECODE_SPEED = re.compile(r"decoded\s+\d+ tokens in\s+[\d.]+ seconds, speed:\s+([\d.]+) t/s")


def run_upstream(binary: Path, model: Path, prompt: str, n_draft: int, n_predict: int,
                 threads: int, n_ctx: int) -> tuple[int, int, float | None, str]:  # fmt: skip
    """Run llama-speculative-simple once; return (n_drafted, n_accept, decode t/s, log)."""
    command = [
        str(binary),
        "-m", str(model),
        "--spec-type", "draft-mtp",
        "--spec-draft-n-max", str(n_draft),
        "-p", prompt,
        "-n", str(n_predict),
        "-c", str(n_ctx),
        "-t", str(threads),
        "--temp", "0",
        "--seed", "1",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(
            f"llama-speculative-simple failed with exit status {result.returncode}:\n"
            f"{' '.join(command)}\n{log[-3000:]}"
        )
    drafted = _DRAFTED.search(log)
    accepted = _ACCEPTED.search(log)
    if drafted is None or accepted is None:
        raise RuntimeError(f"no n_drafted/n_accept lines in the output of:\n{' '.join(command)}")
    speed = _DECODE_SPEED.search(log)
    return int(drafted[1]), int(accepted[1]), float(speed[1]) if speed else None, log


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print one line per draft length; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="oracle GGUF written by llamamtp.synthetic")
    parser.add_argument(
        "--binary",
        type=Path,
        default=DEFAULT_BINARY,
        help=f"llama-speculative-simple to run (default: {DEFAULT_BINARY})",
    )
    parser.add_argument(
        "--n-draft",
        type=int,
        nargs="+",
        default=[1, 3],
        help="draft lengths to test, in tokens (default: 1 3)",
    )
    parser.add_argument(
        "--n-predict", type=int, default=256, help="tokens to generate per run (default: 256)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    parser.add_argument(
        "--ctx-size", type=int, default=2048, help="context length in tokens (default: 2048)"
    )
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="prompt text")
    args = parser.parse_args(argv)  # fmt: skip

    if not args.binary.is_file():
        print(f"error: {args.binary} not found; run 'python build.py --tools' first",
              file=sys.stderr)  # fmt: skip
        return 2
    oracle = read_oracle(args.model)
    with llamamtp.Model(args.model, vocab_only=True) as model:
        last_prompt_token = model.vocab.tokenize(args.prompt)[-1]

    print(f"model: {args.model}")
    print(f"alpha: {oracle.alpha:g} (cycle of {oracle.cycle_length} tokens, "
          f"head agreement {oracle.acceptance:.4f})")  # fmt: skip
    print("n_draft | upstream drafted/accepted (rate) | replay drafted/accepted (rate) | "
          "decode t/s | match")  # fmt: skip
    all_match = True
    for n_draft in args.n_draft:
        drafted, accepted, speed, log = run_upstream(
            args.binary, args.model, args.prompt, n_draft, args.n_predict, args.threads,
            args.ctx_size,
        )  # fmt: skip
        if "will use checkpoints" in log:
            print("note: upstream used checkpoints; its counts follow another accounting")
        sim_drafted, sim_accepted = oracle.simulate_speculative(
            last_prompt_token, n_draft, args.n_predict
        )
        match = (drafted, accepted) == (sim_drafted, sim_accepted)
        all_match &= match
        rate = accepted / drafted if drafted else float("nan")
        sim_rate = sim_accepted / sim_drafted if sim_drafted else float("nan")
        speed_text = f"{speed:.1f}" if speed is not None else "?"
        print(f"{n_draft:7d} | {drafted:5d}/{accepted:5d} ({rate:.3f})            | "
              f"{sim_drafted:5d}/{sim_accepted:5d} ({sim_rate:.3f})          | "
              f"{speed_text:>10} | {'yes' if match else 'NO'}")  # fmt: skip
    return 0 if all_match else 1


if __name__ == "__main__":
    sys.exit(main())
