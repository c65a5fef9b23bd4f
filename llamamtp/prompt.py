"""The prompt tokens of a completion: text, token ids, or a fill-in-the-middle prompt.

Text is tokenized with BOS when the model wants one, and control-token text
such as ``<|im_start|>`` becomes the control token. Token ids are used as
given.

With a ``suffix``, the prompt is built from the model's FIM tokens in the
layout llama-cpp-python 0.3.36 uses: ``[BOS] <fim_pre> prefix <fim_suf>
suffix <fim_mid>``. With ``spm_infill=True`` the suffix comes first:
``[BOS] <fim_suf> suffix <fim_pre> prefix <fim_mid>``. The model then writes
the middle. BOS and EOS are added when the vocabulary's ``add_bos`` and
``add_eos`` flags are set, as ``tokenize`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from llamamtp.vocab import Vocab

# Text put before the suffix while it is tokenized, then removed with its
# tokens, so a tokenizer that prepends a space to a text's start (SentencePiece
# with add_space_prefix) does not prepend one to the suffix.
_SENTINEL = "\n"


def fim_tokens(vocab: Vocab, model_path: str) -> tuple[int, int, int]:
    """Return the (prefix, suffix, middle) FIM tokens; raise ValueError if any is missing."""
    tokens = {"prefix": vocab.fim_pre, "suffix": vocab.fim_suf, "middle": vocab.fim_mid}
    missing = [name for name, token in tokens.items() if token < 0]
    if missing:
        raise ValueError(
            f"suffix needs a model with fill-in-the-middle tokens, and {model_path!r} has "
            f"none for the {' and '.join(missing)}; use a code model trained for infilling, "
            f"or put the whole text in the prompt and leave suffix=None"
        )
    return tokens["prefix"], tokens["suffix"], tokens["middle"]


def tokenize_suffix(vocab: Vocab, suffix: str) -> list[int]:
    """Tokenize the suffix as text that continues the middle, with no space prepended."""
    if not suffix:
        return []
    plain = vocab.tokenize(suffix, add_special=False, parse_special=False)
    if not _adds_space_prefix(vocab):
        return plain
    sentinel = vocab.tokenize(_SENTINEL, add_special=False, parse_special=False)
    joined = vocab.tokenize(_SENTINEL + suffix, add_special=False, parse_special=False)
    if joined[: len(sentinel)] != sentinel:
        # The sentinel merged with the suffix's first characters: keep the plain tokens.
        return plain
    return joined[len(sentinel) :]


def _adds_space_prefix(vocab: Vocab) -> bool:
    first = vocab.tokenize("x", add_special=False, parse_special=False)[0]
    return vocab.token_to_piece(first).startswith(b" ")


def infill_prompt(
    vocab: Vocab,
    model_path: str,
    prefix: str | list[int],
    suffix: str,
    spm_infill: bool = False,
) -> list[int]:
    """Build the token ids of a fill-in-the-middle prompt.

    ``prefix`` is the completion's prompt: text, or token ids used as given.
    """
    fim_pre, fim_suf, fim_mid = fim_tokens(vocab, model_path)
    if isinstance(prefix, str):
        prefix_tokens = vocab.tokenize(prefix, add_special=False, parse_special=False)
    else:
        prefix_tokens = list(prefix)
    before = [fim_pre, *prefix_tokens]
    after = [fim_suf, *tokenize_suffix(vocab, suffix)]
    body = [*after, *before] if spm_infill else [*before, *after]

    tokens = [vocab.bos] if vocab.add_bos and vocab.bos >= 0 else []
    tokens += [*body, fim_mid]
    if vocab.add_eos and vocab.eos >= 0:
        tokens.append(vocab.eos)
    return tokens


def completion_prompt(
    vocab: Vocab,
    model_path: str,
    prompt: str | list[int],
    suffix: str | None = None,
    spm_infill: bool = False,
) -> tuple[str, list[int]]:
    """Return the prompt's text (what ``echo`` repeats) and the token ids to evaluate."""
    if isinstance(prompt, str):
        if suffix is not None:
            return prompt, infill_prompt(vocab, model_path, prompt, suffix, spm_infill)
        if prompt == "":
            if vocab.bos < 0:
                raise ValueError(
                    "the prompt is empty and this model has no BOS token to start from; "
                    "pass some text"
                )
            return "", [vocab.bos]
        return prompt, vocab.tokenize(prompt, add_special=vocab.add_bos, parse_special=True)

    if not isinstance(prompt, (list, tuple)) or not all(
        isinstance(t, (int, np.integer)) for t in prompt
    ):
        raise TypeError(
            f"prompt must be a string or a list of token ids, got {type(prompt).__name__}"
        )
    tokens = [int(t) for t in prompt]
    if not tokens and suffix is None:
        raise ValueError("the prompt is an empty token list; pass at least one token")
    vocab.check_tokens(tokens)
    text = vocab.detokenize(tokens).decode("utf-8", errors="ignore")
    if suffix is not None:
        tokens = infill_prompt(vocab, model_path, tokens, suffix, spm_infill)
    return text, tokens
