"""Drop-in Llama completions on the real Gemma 3 270M: shapes, streaming, stops, logprobs."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from llamamtp import Llama, LlamaGrammar, LogitsProcessorList, Session, StoppingCriteriaList
from tests.llama_fixtures import (
    CHOICE_KEYS,
    CHUNK_KEYS,
    COMPLETION_KEYS,
    N_CTX,
    OPTIONS,
    joined,
    text_of,
)

PROMPT = "The capital of France is"


def test_completion_shape(llm: Llama):
    response = llm(PROMPT, max_tokens=4, temperature=0)
    assert set(response) == COMPLETION_KEYS
    assert response["object"] == "text_completion"
    assert response["id"].startswith("cmpl-")
    assert set(response["choices"][0]) == CHOICE_KEYS
    usage = response["usage"]
    assert usage["completion_tokens"] == 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + 4
    assert response["choices"][0]["finish_reason"] == "length"


def test_stream_chunk_shape(llm: Llama):
    chunks = list(llm(PROMPT, max_tokens=4, temperature=0, stream=True))
    for chunk in chunks:
        assert set(chunk) == CHUNK_KEYS
        assert chunk["object"] == "text_completion"
        assert set(chunk["choices"][0]) == CHOICE_KEYS
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"][0]["text"] == ""
    assert len({chunk["id"] for chunk in chunks}) == 1


def test_greedy_equals_plain_session(llm: Llama, gemma_path: str):
    response = llm(PROMPT, max_tokens=24, temperature=0)
    with Session(gemma_path, n_draft=0, n_ctx=N_CTX, n_threads=1) as session:
        prompt = session.vocab.tokenize(PROMPT)
        tokens = list(session.generate(prompt, max_tokens=24))
    expected = b"".join(session_piece(llm, t) for t in tokens).decode()
    assert text_of(response) == expected


def session_piece(llm: Llama, token: int) -> bytes:
    return llm.model.vocab.token_to_piece(token)


def test_greedy_is_deterministic(llm: Llama):
    first = text_of(llm(PROMPT, max_tokens=24, temperature=0))
    llm("An unrelated prompt about cooking pasta", max_tokens=8, temperature=0)
    assert text_of(llm(PROMPT, max_tokens=24, temperature=0)) == first


def test_stream_equals_non_stream_after_other_prompt(llm: Llama):
    llm("Something else entirely: the ocean", max_tokens=8, temperature=0)
    plain = text_of(llm(PROMPT, max_tokens=32, temperature=0))
    llm("Something else entirely: the ocean", max_tokens=8, temperature=0)
    streamed = joined(llm(PROMPT, max_tokens=32, temperature=0, stream=True))
    assert streamed == plain


def test_seeded_repeat_is_identical(llm: Llama):
    texts = {text_of(llm("Once upon a time", max_tokens=32, temperature=0.8, seed=42))
             for _ in range(3)}  # fmt: skip
    assert len(texts) == 1


def test_seeded_stream_equals_non_stream(llm: Llama):
    plain = text_of(llm("Once upon a time", max_tokens=32, temperature=0.8, seed=7))
    streamed = joined(llm("Once upon a time", max_tokens=32, temperature=0.8, seed=7, stream=True))
    assert streamed == plain


def test_different_seeds_differ(llm: Llama):
    texts = {text_of(llm("Once upon a time", max_tokens=32, temperature=1.5, seed=seed))
             for seed in range(4)}  # fmt: skip
    assert len(texts) > 1


def test_stop_string_spanning_tokens(llm: Llama):
    full = text_of(llm(PROMPT, max_tokens=24, temperature=0))
    # A stop string made of the end of one word and the start of the next.
    words = full.split(" ")
    stop = words[2][-2:] + " " + words[3][:2]
    assert stop in full
    response = llm(PROMPT, max_tokens=24, temperature=0, stop=[stop])
    assert text_of(response) == full[: full.index(stop)]
    assert response["choices"][0]["finish_reason"] == "stop"
    streamed = joined(llm(PROMPT, max_tokens=24, temperature=0, stop=stop, stream=True))
    assert streamed == full[: full.index(stop)]


def test_echo_prepends_prompt(llm: Llama):
    plain = text_of(llm(PROMPT, max_tokens=8, temperature=0))
    echoed = text_of(llm(PROMPT, max_tokens=8, temperature=0, echo=True))
    assert echoed == PROMPT + plain


def test_logprobs_shape(llm: Llama):
    response = llm(PROMPT, max_tokens=6, temperature=0, logprobs=3)
    logprobs = response["choices"][0]["logprobs"]
    assert set(logprobs) == {"tokens", "text_offset", "token_logprobs", "top_logprobs"}
    assert len(logprobs["tokens"]) == 6
    assert "".join(logprobs["tokens"]) == text_of(response)
    assert logprobs["text_offset"][0] == len(PROMPT)
    for token, logprob, top in zip(logprobs["tokens"], logprobs["token_logprobs"],
                                   logprobs["top_logprobs"], strict=False):  # fmt: skip
        assert logprob <= 0.0
        assert 3 <= len(top) <= 4
        assert top[token] == logprob
        # Greedy: the chosen token is the most likely one.
        assert logprob == max(top.values())


def test_logprobs_streamed_match(llm: Llama):
    plain = llm(PROMPT, max_tokens=6, temperature=0, logprobs=2)["choices"][0]["logprobs"]
    chunks = list(llm(PROMPT, max_tokens=6, temperature=0, logprobs=2, stream=True))
    streamed = []
    for chunk in chunks:
        if chunk["choices"][0]["logprobs"] is not None:
            streamed.extend(chunk["choices"][0]["logprobs"]["token_logprobs"])
    assert streamed == plain["token_logprobs"]


def test_echo_logprobs_cover_prompt(llm: Llama):
    response = llm(PROMPT, max_tokens=4, temperature=0, logprobs=2, echo=True)
    text = text_of(response)
    logprobs = response["choices"][0]["logprobs"]
    # The prompt's tokens without its BOS, then the generated ones.
    n_prompt = response["usage"]["prompt_tokens"] - 1
    assert len(logprobs["tokens"]) == n_prompt + 4
    assert "".join(logprobs["tokens"]) == text
    offsets = [len("".join(logprobs["tokens"][:i])) for i in range(len(logprobs["tokens"]))]
    assert logprobs["text_offset"] == offsets
    # As in OpenAI's API, the first token has no log probability.
    assert logprobs["token_logprobs"][0] is None
    assert logprobs["top_logprobs"][0] is None
    for token, logprob, top in zip(logprobs["tokens"][1:], logprobs["token_logprobs"][1:],
                                   logprobs["top_logprobs"][1:], strict=True):  # fmt: skip
        assert logprob <= 0.0
        assert top[token] == logprob
        assert 2 <= len(top) <= 3


def test_echo_logprobs_keep_generation(llm: Llama):
    plain = llm(PROMPT, max_tokens=8, temperature=0, logprobs=1)
    echoed = llm(PROMPT, max_tokens=8, temperature=0, logprobs=1, echo=True)
    assert text_of(echoed) == PROMPT + text_of(plain)
    generated = plain["choices"][0]["logprobs"]["token_logprobs"]
    assert echoed["choices"][0]["logprobs"]["token_logprobs"][-len(generated) :] == generated


def test_echo_logprobs_streamed_match(llm: Llama):
    options = dict(max_tokens=6, temperature=0, logprobs=2, echo=True)
    plain = llm(PROMPT, **options)["choices"][0]["logprobs"]
    chunks = list(llm(PROMPT, stream=True, **options))
    assert chunks[0]["choices"][0]["text"] == PROMPT
    streamed = {key: [] for key in plain}
    for chunk in chunks:
        for key, values in (chunk["choices"][0]["logprobs"] or {}).items():
            streamed[key] += values
    assert streamed == plain


def test_prompt_logprobs_match_generation(tiny_qwen35_path):
    # The prompt's log probabilities score the same positions a generation step
    # scores, in a batch of another shape (F32, so the difference is rounding).
    with Llama(str(tiny_qwen35_path), **OPTIONS) as llm:
        tokens = llm.tokenize(PROMPT.encode())
        generated = list(islice(llm.generate(tokens, temp=0), 6))
        expected = llm(tokens, max_tokens=6, temperature=0, logprobs=0)
        scored = llm(tokens + generated, max_tokens=1, temperature=0, logprobs=0, echo=True)
    expected_logprobs = expected["choices"][0]["logprobs"]["token_logprobs"]
    scored_logprobs = scored["choices"][0]["logprobs"]["token_logprobs"]
    prompt_part = scored_logprobs[len(tokens) : len(tokens) + 6]
    assert prompt_part == pytest.approx(expected_logprobs, abs=1e-3)


@pytest.mark.parametrize("max_tokens", [None, -1, 0])
def test_max_tokens_unlimited_fills_context(llm: Llama, max_tokens):
    response = llm(
        PROMPT, max_tokens=max_tokens, temperature=0, logit_bias={llm.token_eos(): -100.0}
    )
    usage = response["usage"]
    assert usage["total_tokens"] <= N_CTX
    assert usage["completion_tokens"] == N_CTX - usage["prompt_tokens"]
    assert response["choices"][0]["finish_reason"] == "length"


def test_token_list_prompt(llm: Llama):
    tokens = llm.tokenize(PROMPT.encode())
    assert text_of(llm(tokens, max_tokens=8, temperature=0)) == text_of(
        llm(PROMPT, max_tokens=8, temperature=0)
    )


def test_repeat_penalty_changes_greedy_output(llm: Llama):
    prompt = "one one one one one one one"
    plain = text_of(llm(prompt, max_tokens=16, temperature=0))
    penalized = text_of(llm(prompt, max_tokens=16, temperature=0, repeat_penalty=1.5,
                            presence_penalty=1.0))  # fmt: skip
    assert penalized != plain


def test_logit_bias_forces_token(llm: Llama):
    token = llm.tokenize(b" banana", add_bos=False)[0]
    response = llm(PROMPT, max_tokens=3, temperature=0, logit_bias={token: 100.0})
    assert text_of(response) == " banana" * 3


def test_grammar_constrains_output(llm: Llama):
    grammar = LlamaGrammar.from_string('root ::= ("yes" | "no") "."')
    response = llm("Is the sky blue? Answer:", max_tokens=8, temperature=0, grammar=grammar)
    assert text_of(response) in ("yes.", "no.")


def test_json_schema_grammar(llm: Llama):
    import json

    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema))
    text = text_of(llm("Reply in JSON:", max_tokens=40, temperature=0, grammar=grammar))
    assert isinstance(json.loads(text)["ok"], bool)


def test_logits_processor_runs_per_token(llm: Llama):
    banned = llm.tokenize(b" Paris", add_bos=False)[0]
    calls = []

    def ban(input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        calls.append(len(input_ids))
        scores[banned] = -np.inf
        return scores

    response = llm(PROMPT, max_tokens=5, temperature=0, logits_processor=LogitsProcessorList([ban]))
    assert " Paris" not in text_of(response)
    prompt_length = response["usage"]["prompt_tokens"]
    assert calls == list(range(prompt_length, prompt_length + 5))


def test_logits_processor_error_propagates(llm: Llama):
    def broken(input_ids, scores):
        raise RuntimeError("processor failed")

    with pytest.raises(RuntimeError, match="processor failed"):
        llm(PROMPT, max_tokens=3, logits_processor=LogitsProcessorList([broken]))
    assert text_of(llm(PROMPT, max_tokens=3, temperature=0))


def test_stopping_criteria_stop(llm: Llama):
    def after_three(input_ids: np.ndarray, logits: np.ndarray) -> bool:
        return len(input_ids) >= prompt_length + 3

    prompt_length = len(llm.tokenize(PROMPT.encode()))
    response = llm(PROMPT, max_tokens=20, temperature=0,
                   stopping_criteria=StoppingCriteriaList([after_three]))  # fmt: skip
    assert response["choices"][0]["finish_reason"] == "stop"
    assert response["usage"]["completion_tokens"] == 3


def test_utf8_split_across_tokens(llm: Llama):
    # Emoji are several tokens each in Gemma's vocabulary; chunks never split a character.
    prompt = "Emoji party: 🎉🎉🎉🎉"
    chunks = list(llm(prompt, max_tokens=24, temperature=0, stream=True))
    for chunk in chunks:
        assert "\ufffd" not in chunk["choices"][0]["text"]
    assert joined(chunks) == text_of(llm(prompt, max_tokens=24, temperature=0))
