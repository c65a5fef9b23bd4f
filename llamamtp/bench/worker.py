"""One measured generation in a fresh process, printed as one JSON line.

The harness runs this file by path, so every run starts from the same state
and its peak memory is its own. The llama-cpp-python variant may run under
another interpreter (its own virtual environment), so nothing from llamamtp is
imported at module level.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def run_llamamtp(args: argparse.Namespace) -> dict:
    import llamamtp

    n_draft: int | str = args.draft if args.draft == "auto" else int(args.draft)
    session = llamamtp.Session(
        args.model, n_draft=n_draft, draft_n_max=args.draft_n_max, n_ctx=args.n_ctx,
        n_threads=args.threads,
    )  # fmt: skip
    prompt = session.vocab.tokenize(args.prompt, add_special=True, parse_special=True)

    start = time.perf_counter()
    session.prefill(prompt)
    prefilled = time.perf_counter()
    generated = 0
    first_token = None
    for _ in session.generate(max_tokens=args.n_tokens):
        generated += 1
        if first_token is None:
            first_token = time.perf_counter()
    end = time.perf_counter()

    stats = session.stats
    depth = session.depth_stats
    result = {
        "n_prompt": len(prompt),
        "n_generated": generated,
        "prompt_tps": (len(prompt) - 1) / (prefilled - start) if len(prompt) > 1 else None,
        "decode_tps": generated / (end - prefilled),
        "ttft_s": first_token - start,
        "n_steps": stats.n_steps,
        "n_drafted": stats.n_drafted,
        "n_accepted": stats.n_accepted,
        "depth_histogram": list(depth.histogram) if depth else None,
    }
    session.close()
    return result


def run_llama_cpp_python(args: argparse.Namespace) -> dict:
    from llama_cpp import Llama

    llm = Llama(args.model, n_ctx=args.n_ctx, n_threads=args.threads, n_threads_batch=args.threads,
                verbose=False)  # fmt: skip
    prompt = llm.tokenize(args.prompt.encode(), add_bos=True, special=True)
    start = time.perf_counter()
    first_token = None
    generated = 0
    stream = llm.create_completion(prompt, max_tokens=args.n_tokens, temperature=0.0, stream=True)
    for chunk in stream:
        # The closing chunk only carries the finish reason.
        if chunk["choices"][0]["finish_reason"] is not None and not chunk["choices"][0]["text"]:
            continue
        generated += 1
        if first_token is None:
            first_token = time.perf_counter()
    end = time.perf_counter()
    # The first chunk arrives after the prompt and one decode; the rest is decoding.
    return {
        "n_prompt": len(prompt),
        "n_generated": generated,
        "prompt_tps": None,
        "decode_tps": (generated - 1) / (end - first_token) if generated > 1 else None,
        "ttft_s": first_token - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", choices=["llamamtp", "llama-cpp-python"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--draft", default="0", help="0, a depth, or auto")
    parser.add_argument("--draft-n-max", type=int, default=4)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--n-tokens", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args(argv)

    run = run_llamamtp if args.library == "llamamtp" else run_llama_cpp_python
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
