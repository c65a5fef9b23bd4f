"""Compare llamamtp's session with upstream's tools on one model, interleaved.

    python build.py --tools
    python benchmarks/compare_upstream.py MODEL.gguf --n-draft 0 1 2 3 --repeats 5

For each draft length (0 = plain decoding) and each repeat, it runs upstream
then llamamtp, alternating which goes first:

- plain: ``llama-bench -p 0 -n N`` against ``Session(n_draft=0)``;
- MTP: ``llama-speculative-simple --spec-type draft-mtp --spec-draft-n-max K``
  against ``Session(n_draft=K)`` on the same prompt at temperature 0.

Decode tokens/s excludes the prompt on both sides. The table gives medians
with min-max and the ratio llamamtp / upstream of the medians.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import llamamtp

ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = ROOT / "build" / "cmake" / "bin"
DEFAULT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
_DECODE_SPEED = re.compile(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds")


def upstream_plain(model: Path, n_tokens: int, threads: int) -> float:
    """Decode tokens/s of one llama-bench tg run."""
    command = [
        str(BIN_DIR / "llama-bench"), "-m", str(model), "-p", "0", "-n", str(n_tokens),
        "-t", str(threads), "-r", "1", "-o", "json",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(json.loads(result.stdout)[0]["avg_ts"])


def upstream_mtp(model: Path, prompt: str, n_draft: int, n_tokens: int, threads: int) -> float:
    """Decode tokens/s of one llama-speculative-simple run."""
    command = [
        str(BIN_DIR / "llama-speculative-simple"), "-m", str(model),
        "--spec-type", "draft-mtp", "--spec-draft-n-max", str(n_draft),
        "-p", prompt, "-n", str(n_tokens), "-c", "2048", "-t", str(threads),
        "--temp", "0", "--seed", "1",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    match = _DECODE_SPEED.search(result.stdout + result.stderr)
    if match is None:
        raise RuntimeError(f"no 'decoded ... tokens' line from: {' '.join(command)}")
    return int(match[1]) / float(match[2])


def llamamtp_run(session: llamamtp.Session, prompt: list[int], n_tokens: int) -> float:
    """Decode tokens/s of one generation, prompt processing excluded."""
    session.reset()
    session.prefill(prompt)
    start = time.perf_counter()
    generated = sum(1 for _ in session.generate(max_tokens=n_tokens))
    return generated / (time.perf_counter() - start)


def describe(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="GGUF model with an MTP head")
    parser.add_argument(
        "--n-draft",
        type=int,
        nargs="+",
        default=[0, 1, 2, 3],
        help="draft lengths to compare; 0 = plain decoding (default: 0 1 2 3)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per side (default: 5)")
    parser.add_argument(
        "--n-tokens", type=int, default=64, help="tokens generated per run (default: 64)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="prompt text for MTP runs")
    args = parser.parse_args(argv)  # fmt: skip

    for tool in ("llama-bench", "llama-speculative-simple"):
        if not (BIN_DIR / tool).is_file():
            print(f"error: {BIN_DIR / tool} not found; run 'python build.py --tools'",
                  file=sys.stderr)  # fmt: skip
            return 2

    model = llamamtp.Model(args.model, load_mtp=True)
    prompt = model.vocab.tokenize(args.prompt, add_special=True, parse_special=True)
    print(f"model: {args.model} ({model.desc}), threads: {args.threads}, "
          f"tokens per run: {args.n_tokens}, repeats: {args.repeats}")  # fmt: skip
    print("| mode | upstream tokens/s | llamamtp tokens/s | ratio |")
    print("|---|---|---|---|")
    for n_draft in args.n_draft:
        session = llamamtp.Session(model, n_draft=n_draft, n_ctx=2048, n_threads=args.threads)
        # A warm-up run of each side, not counted.
        llamamtp_run(session, prompt, 8)
        ours: list[float] = []
        theirs: list[float] = []
        for repeat in range(args.repeats):
            # Alternate which side goes first, so drift affects both alike.
            sides = ["upstream", "llamamtp"] if repeat % 2 == 0 else ["llamamtp", "upstream"]
            for side in sides:
                if side == "llamamtp":
                    ours.append(llamamtp_run(session, prompt, args.n_tokens))
                elif n_draft == 0:
                    theirs.append(upstream_plain(args.model, args.n_tokens, args.threads))
                else:
                    theirs.append(
                        upstream_mtp(args.model, args.prompt, n_draft, args.n_tokens, args.threads)
                    )
        session.close()
        mode = "plain" if n_draft == 0 else f"MTP, {n_draft} draft"
        ratio = statistics.median(ours) / statistics.median(theirs)
        print(f"| {mode} | {describe(theirs)} | {describe(ours)} | {ratio:.3f} |", flush=True)
    model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
