"""The MTP loop by hand with ``Session``: prefill, draft, verify, then step.

    python examples/session.py [--model PATH] [--n-draft K] [--steps N]

``draft`` takes K tokens from the model's MTP head after the pending token.
``verify`` runs the full model once over [pending, draft...] and returns the
drafted tokens it accepted plus one token of its own. ``step`` does both in
one native call. The model needs an MTP head: without --model the script
writes a tiny synthetic "oracle" Qwen3.5 model whose head is right on 75 % of
tokens to a temporary folder.
"""

import argparse
import tempfile
from pathlib import Path

from llamamtp import Session
from llamamtp.synthetic import write_oracle


def show(session: Session, tokens: list[int]) -> str:
    pieces = [session.vocab.token_to_piece(t).decode("utf-8", errors="replace") for t in tokens]
    return repr("".join(pieces))


def run(model_path: str, n_draft: int, n_steps: int, n_threads: int | None) -> None:
    with Session(model_path, n_draft=n_draft, n_ctx=512, n_threads=n_threads) as session:
        prompt = session.vocab.tokenize("The MTP head drafts, the model verifies:")
        session.prefill(prompt)  # decodes all but the last token, which becomes pending
        print(f"prefilled {len(prompt)} tokens; pending: {show(session, [session.pending])}\n")

        for i in range(n_steps):
            draft = session.draft()
            result = session.verify(draft)
            accepted = result[:-1]  # the last token is the full model's own
            print(f"step {i}: drafted {show(session, draft)}")
            print(
                f"        accepted {len(accepted)} of {len(draft)}, "
                f"new tokens {show(session, result)}"
            )

        # The same loop in one native call per step.
        for _ in range(n_steps):
            session.step()

        stats = session.stats
        print(
            f"\n{stats.n_generated} tokens in {stats.n_steps} passes of the full model "
            f"({stats.tokens_per_step:.2f} per pass)"
        )
        print(
            f"{stats.n_accepted} of {stats.n_drafted} drafted tokens accepted "
            f"(acceptance rate {100 * stats.acceptance_rate:.0f} %)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file with an MTP head (default: a tiny oracle)")
    parser.add_argument(
        "--n-draft", type=int, default=3, help="tokens drafted per step (default: 3)"
    )
    parser.add_argument(
        "--steps", type=int, default=5, help="steps by hand, then as many with step() (default: 5)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)"
    )
    args = parser.parse_args()

    if args.model:
        run(args.model, args.n_draft, args.steps, args.threads)
        return
    with tempfile.TemporaryDirectory() as folder:
        model_path = write_oracle(Path(folder) / "oracle-tiny.gguf", "tiny", alpha=0.75)
        run(str(model_path), args.n_draft, args.steps, args.threads)


if __name__ == "__main__":
    main()
