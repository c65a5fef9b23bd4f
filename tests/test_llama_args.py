"""Drop-in Llama bad input: unsupported arguments, bad prompts and values raise clearly."""

from __future__ import annotations

import pytest

from llamamtp import Llama, LlamaGrammar
from tests.llama_fixtures import N_CTX, OPTIONS, text_of


def test_unknown_argument_raises_type_error(gemma_path: str):
    with pytest.raises(TypeError, match="n_gqa"):
        Llama(gemma_path, n_gqa=8)


@pytest.mark.parametrize(
    "name, value",
    [("lora_path", "adapter.gguf"), ("tensor_split", [0.5, 0.5]), ("rpc_servers", "host:1"),
     ("kv_overrides", {"a": 1}), ("type_k", 1), ("draft_model", object()), ("numa", True)],
)  # fmt: skip
def test_unsupported_argument_raises(gemma_path: str, name: str, value):
    with pytest.raises(NotImplementedError, match=name):
        Llama(gemma_path, **{name: value})


@pytest.mark.parametrize(
    "options, message",
    [({"draft": "eagle"}, "draft must be"), ({"draft_n_max": 0}, "draft_n_max"),
     ({"prefix_reuse": "all"}, "prefix_reuse"), ({"n_ctx": -1}, "n_ctx"),
     ({"seed": -5}, "seed"), ({"n_ctx_checkpoints": -1}, "n_ctx_checkpoints")],
)  # fmt: skip
def test_invalid_option_raises(gemma_path: str, options: dict, message: str):
    with pytest.raises(ValueError, match=message):
        Llama(gemma_path, **options)


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Llama(str(tmp_path / "missing.gguf"))


def test_prompt_longer_than_context(llm: Llama):
    with pytest.raises(ValueError, match=f"exceed context window of {N_CTX}"):
        llm("word " * (N_CTX + 10), max_tokens=4)
    assert text_of(llm("Hello", max_tokens=2, temperature=0))


def test_empty_prompt_starts_from_bos(llm: Llama):
    response = llm("", max_tokens=3, temperature=0)
    assert response["usage"]["prompt_tokens"] == 1


def test_empty_token_list_raises(llm: Llama):
    with pytest.raises(ValueError, match="empty token list"):
        llm([], max_tokens=2)


def test_token_outside_vocabulary_raises(llm: Llama):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        llm([llm.n_vocab() + 5], max_tokens=2)


def test_bad_prompt_type_raises(llm: Llama):
    with pytest.raises(TypeError, match="prompt must be"):
        llm(42, max_tokens=2)


def test_invalid_grammar_raises_and_recovers(llm: Llama):
    with pytest.raises(ValueError, match="invalid GBNF grammar"):
        llm("Hi", max_tokens=2, grammar=LlamaGrammar.from_string("root ::= ("))
    assert text_of(llm("Hello", max_tokens=2, temperature=0))


def test_invalid_json_schema_raises():
    with pytest.raises(ValueError, match="invalid JSON schema"):
        LlamaGrammar.from_json_schema("{not json")


@pytest.mark.parametrize(
    "options, error",
    [({"suffix": "x"}, ValueError), ({"suffix": 5}, TypeError),
     ({"tfs_z": 0.5}, NotImplementedError), ({"logprobs": -1}, ValueError),
     ({"mirostat_mode": 3}, ValueError), ({"seed": -2}, ValueError), ({"stop": 5}, TypeError),
     ({"max_tokens": "ten"}, TypeError), ({"top_p": 1.5}, ValueError),
     ({"logit_bias": {10**9: 1.0}}, ValueError)],
)  # fmt: skip
def test_bad_completion_argument_raises(llm: Llama, options: dict, error: type):
    with pytest.raises(error):
        llm("Hello", max_tokens=2, **options)
    assert text_of(llm("Hello", max_tokens=2, temperature=0))


def test_seed_minus_one_is_random(gemma_path: str):
    # llama-cpp-python documents seed=-1 as "random", in the constructor and per call.
    with Llama(gemma_path, seed=-1, **OPTIONS) as llm:
        assert text_of(llm("Hello", max_tokens=2, seed=-1))


def test_tokenize_takes_bytes(llm: Llama):
    with pytest.raises(TypeError, match="bytes"):
        llm.tokenize("text")


def test_tokenize_round_trip(llm: Llama):
    tokens = llm.tokenize(b"Hello world")
    assert tokens[0] == llm.token_bos()
    assert llm.detokenize(tokens[1:]) == b"Hello world"
    assert llm.tokenizer().decode(llm.tokenizer().encode("Hi there", add_bos=False)) == "Hi there"


def test_detokenize_partial_utf8_is_bytes(llm: Llama):
    tokens = llm.tokenize("é🎉".encode(), add_bos=False)
    pieces = b"".join(llm.detokenize([t]) for t in tokens)
    assert pieces.decode("utf-8") == "é🎉"


def test_tokenize_invalid_utf8_bytes(llm: Llama):
    tokens = llm.tokenize(b"\xff\xfeabc", add_bos=False)
    assert llm.detokenize(tokens).endswith(b"abc")


def test_vocab_only_cannot_generate(gemma_path: str):
    with Llama(gemma_path, vocab_only=True, verbose=False) as llm:
        assert llm.tokenize(b"Hi")
        with pytest.raises(ValueError, match="vocab_only"):
            llm("Hi", max_tokens=2)


def test_closed_llama_raises(gemma_path: str):
    llm = Llama(gemma_path, **OPTIONS)
    llm.close()
    llm.close()
    with pytest.raises(ValueError, match="closed"):
        llm("Hi", max_tokens=2)


def test_embedding_needs_flag(llm: Llama):
    with pytest.raises(ValueError, match="embedding=True"):
        llm.embed("Hello")


def test_embedding_shape(gemma_path: str):
    with Llama(gemma_path, embedding=True, **OPTIONS) as llm:
        vector = llm.embed("Hello world")
        response = llm.create_embedding(["a", "b"])
        n_embd = llm.n_embd()
    assert len(vector) == n_embd
    assert [item["index"] for item in response["data"]] == [0, 1]
    assert response["object"] == "list"
