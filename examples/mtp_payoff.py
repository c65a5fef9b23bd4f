"""Will MTP pay off on my machine? Measure plain decoding against MTP drafting.

    python examples/mtp_payoff.py [--preset tiny|0.8B|2B|4B|9B] [--alpha A] [--ftype TYPE]

The script writes a synthetic "oracle" Qwen3.5 model of the chosen size whose
MTP head predicts the next token right on a fraction ALPHA of tokens. Think of
ALPHA as how predictable your text is. It then times plain decoding, fixed
draft depths and the automatic depth, interleaved, and prints the median
tokens/s of each against plain decoding.

The default preset, "tiny", is written and timed in seconds, but its trunk is
so small that its result tells little about real models. The other presets
have the real Qwen3.5 layer counts, widths and 248,320-token vocabulary, so
they cost about what a real model of that size costs to run, and take as much
disk: 2 bytes per parameter in F16 (about 1.6 GB for 0.8B). Quantizing with
--ftype Q8_0 or Q4_K_M adds minutes. --keep-dir keeps the written model for
the next run; --model times an existing GGUF file with an MTP head instead.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from llamamtp import Model, Session
from llamamtp.synthetic import DEFAULT_ALPHA, PRESETS, write_oracle

PROMPT = "Count with me:"


def decode_rate(session: Session, prompt: list[int], n_tokens: int) -> tuple[float, float | None]:
    """Generate n_tokens after prompt; return tokens/s (prompt excluded) and acceptance rate.

    The acceptance rate is None when nothing was drafted.
    """
    session.reset()
    session.reset_stats()
    session.prefill(prompt)
    start = time.perf_counter()
    count = sum(1 for _ in session.generate(max_tokens=n_tokens))
    seconds = time.perf_counter() - start
    stats = session.stats
    return count / seconds, stats.acceptance_rate if stats.n_drafted else None


def measure(
    model_path: Path, depths: list[int], n_tokens: int, repeats: int, n_threads: int | None
) -> dict[str, tuple[float, float | None]]:
    """Return the median tokens/s and acceptance rate of each mode, runs interleaved."""
    modes: dict[str, int | str] = {"plain": 0, **{f"MTP {k}": k for k in depths}, "auto": "auto"}
    rates: dict[str, list[float]] = {name: [] for name in modes}
    acceptance: dict[str, list[float]] = {name: [] for name in modes}
    with Model(model_path, load_mtp=True) as model:
        if model.n_layer_nextn == 0:
            raise SystemExit(f"{model_path} has no MTP head, so there is nothing to compare")
        sessions = {
            name: Session(
                model, n_draft=n_draft, draft_n_max=max(depths), n_ctx=512, n_threads=n_threads
            )
            for name, n_draft in modes.items()
        }
        try:
            prompt = model.vocab.tokenize(PROMPT)
            for session in sessions.values():
                decode_rate(session, prompt, 8)  # warm-up: first-touch costs, caches
            for repeat in range(repeats):
                for name, session in sessions.items():
                    rate, accepted = decode_rate(session, prompt, n_tokens)
                    rates[name].append(rate)
                    if accepted is not None:
                        acceptance[name].append(accepted)
                print(f"round {repeat + 1}/{repeats} done", flush=True)
        finally:
            for session in sessions.values():
                session.close()
    return {
        name: (
            statistics.median(rates[name]),
            statistics.median(acceptance[name]) if acceptance[name] else None,
        )
        for name in modes
    }


def report(results: dict[str, tuple[float, float | None]]) -> None:
    plain = results["plain"][0]
    print(f"\n{'mode':<8} {'tokens/s':>9} {'vs plain':>9} {'accepted':>9}")
    for name, (rate, accepted) in results.items():
        acceptance_text = f"{100 * accepted:.0f} %" if accepted is not None else "-"
        print(f"{name:<8} {rate:>9.1f} {rate / plain:>8.2f}x {acceptance_text:>9}")

    fixed = {name: rate for name, (rate, _) in results.items() if name.startswith("MTP")}
    best = max(fixed, key=fixed.get)
    if fixed[best] > plain:
        print(f"\nMTP pays off here: {best} is {fixed[best] / plain:.2f}x plain decoding.")
    else:
        print(
            f"\nMTP does not pay off here: the best depth, {best}, is "
            f"{fixed[best] / plain:.2f}x plain decoding."
        )
    print(f"The automatic depth reached {results['auto'][0] / plain:.2f}x plain decoding.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="tiny",
        help="model size to write (default: tiny, the smallest)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"fraction of tokens the MTP head predicts right (default: {DEFAULT_ALPHA})",
    )
    parser.add_argument(
        "--ftype", help="F32, F16, Q8_0, Q4_K_M... (default: F32 for tiny, F16 otherwise)"
    )
    parser.add_argument(
        "--depths",
        type=int,
        nargs="+",
        default=[1, 2, 3],
        help="fixed draft depths to time, in tokens (default: 1 2 3)",
    )
    parser.add_argument(
        "--n-tokens", type=int, default=64, help="tokens generated per run (default: 64)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per mode, interleaved (default: 3)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)"
    )
    parser.add_argument(
        "--keep-dir",
        type=Path,
        help="write the model into this folder and reuse it next time "
        "(default: a temporary folder)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="time this GGUF file instead of writing an oracle (default: none, write one)",
    )
    args = parser.parse_args()

    if args.model is not None:
        report(measure(args.model, args.depths, args.n_tokens, args.repeats, args.threads))
        return
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep_dir or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"oracle-{args.preset}-{args.alpha}-{args.ftype or 'default'}.gguf"
        if not path.exists():
            print(f"writing {path.name} ...", flush=True)
            write_oracle(path, args.preset, args.alpha, ftype=args.ftype, progress=True)
        report(measure(path, args.depths, args.n_tokens, args.repeats, args.threads))


if __name__ == "__main__":
    main()
