"""Tool-call parsing: the ``<tool_call>`` formats of chat templates, whole and streamed."""

from __future__ import annotations

import json

import pytest

from llamamtp.tool_calls import ToolCallParser, detect_syntax, split_tool_calls
from tests.conftest import LLAMA_CPP_DIR

TEMPLATES = LLAMA_CPP_DIR / "models" / "templates"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "zip": {"type": "string"},
                },
            },
        },
    }
]

XML_CALL = (
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n"
    "<parameter=days>\n3\n</parameter>\n<parameter=zip>\n10001\n</parameter>\n"
    "</function>\n</tool_call>"
)
JSON_CALL = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>'
)
ARG_KEY_CALL = (
    "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Oslo</arg_value>\n"
    "<arg_key>days</arg_key>\n<arg_value>1</arg_value>\n</tool_call>"
)


def arguments(call: dict) -> dict:
    return json.loads(call["function"]["arguments"])


@pytest.mark.parametrize(
    "template, syntax",
    [("Qwen3.5-4B.jinja", "xml"), ("Qwen3-Coder.jinja", "xml"),
     ("Qwen-Qwen3-0.6B.jinja", "json"), ("Qwen-Qwen2.5-7B-Instruct.jinja", "json"),
     ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "json"),
     ("GLM-4.6.jinja", "arg_key"), ("meta-llama-Llama-3.1-8B-Instruct.jinja", None),
     ("google-gemma-2-2b-it.jinja", None)],
)  # fmt: skip
def test_syntax_from_template(template: str, syntax: str | None):
    assert detect_syntax((TEMPLATES / template).read_text()) == syntax


def test_xml_call_uses_schema_types():
    content, calls = split_tool_calls(XML_CALL, "xml", TOOLS)
    assert content is None
    assert len(calls) == 1
    assert calls[0]["type"] == "function"
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["function"]["name"] == "get_weather"
    # "zip" is typed as a string, so "10001" stays text; "days" is read as JSON.
    assert arguments(calls[0]) == {"city": "New York", "days": 3, "zip": "10001"}


def test_xml_value_keeps_inner_lines():
    text = (
        "<tool_call>\n<function=write>\n<parameter=body>\nline one\n\nline two\n"
        "</parameter>\n</function>\n</tool_call>"
    )
    _, calls = split_tool_calls(text, "xml")
    assert arguments(calls[0]) == {"body": "line one\n\nline two"}


def test_json_call():
    content, calls = split_tool_calls(JSON_CALL, "json", TOOLS)
    assert content is None
    assert calls[0]["function"]["name"] == "get_weather"
    assert arguments(calls[0]) == {"city": "Paris", "days": 2}


def test_json_call_with_string_arguments():
    text = '<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>'
    _, calls = split_tool_calls(text, "json")
    assert calls[0]["function"]["arguments"] == '{"a": 1}'


def test_arg_key_call():
    content, calls = split_tool_calls(ARG_KEY_CALL, "arg_key", TOOLS)
    assert content is None
    assert arguments(calls[0]) == {"city": "Oslo", "days": 1}


def test_content_around_calls():
    text = "Let me check.\n\n" + JSON_CALL + "\n" + JSON_CALL + "\n\nDone."
    content, calls = split_tool_calls(text, "json", TOOLS)
    assert len(calls) == 2
    assert calls[0]["id"] != calls[1]["id"]
    assert content == "Let me check.\n\nDone."


def test_reply_without_calls_is_unchanged():
    text = "  No tools needed here. <tool_ is not a tag \n\n"
    assert split_tool_calls(text, "json", TOOLS) == (text, [])


@pytest.mark.parametrize(
    "text",
    ["<tool_call>{not json}</tool_call>", "<tool_call>\n{\"arguments\": {}}\n</tool_call>",
     "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</tool_call>",
     "Before <tool_call>{\"name\": \"f\", \"arguments\": {}}"],
)  # fmt: skip
def test_unparsed_block_stays_content(text: str):
    syntax = "xml" if "<function=" in text else "json"
    assert split_tool_calls(text, syntax) == (text, [])


def test_failed_block_keeps_parsed_neighbors():
    text = JSON_CALL + "\n<tool_call>{oops}</tool_call>"
    content, calls = split_tool_calls(text, "json")
    assert len(calls) == 1
    assert content == "<tool_call>{oops}</tool_call>"


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_streamed_pieces_match_whole(size: int):
    text = "Checking the weather.\n\n" + XML_CALL + "\n\nThen " + XML_CALL + " <tool and more"
    parser = ToolCallParser("xml", TOOLS)
    events = []
    for start in range(0, len(text), size):
        events += parser.feed(text[start : start + size])
    events += parser.finish()
    content = "".join(event.content for event in events)
    calls = [event.tool_call for event in events if event.tool_call is not None]
    whole_content, whole_calls = split_tool_calls(text, "xml", TOOLS)
    assert content == whole_content
    assert [call["function"] for call in calls] == [call["function"] for call in whole_calls]


def test_stream_holds_back_possible_tag():
    parser = ToolCallParser("json")
    assert [event.content for event in parser.feed("Hi <tool")] == ["Hi"]
    assert parser.feed("_ca") == []
    assert [event.content for event in parser.feed("t is a cat")] == [" <tool_cat is a cat"]


def test_unknown_syntax_raises():
    with pytest.raises(ValueError, match="tool-call syntax must be one of"):
        ToolCallParser("yaml")
