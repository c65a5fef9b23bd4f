"""Tool calls in a chat reply: find ``<tool_call>`` blocks and return them in OpenAI's shape.

Many chat templates tell the model to wrap each call in
``<tool_call>...</tool_call>``; they differ in the body. The template's
source decides which body is parsed:

- ``"xml"`` (Qwen3.5, Qwen3-Coder, Nemotron 3; the template contains
  ``<function=``): ``<function=NAME>`` followed by
  ``<parameter=KEY>\\nVALUE\\n</parameter>`` blocks and ``</function>``;
- ``"arg_key"`` (GLM-4.6/4.7, Ling; the template contains ``<arg_key>``):
  the name, then ``<arg_key>KEY</arg_key><arg_value>VALUE</arg_value>`` pairs;
- ``"json"`` (Qwen2.5, Qwen3, QwQ, Hermes, Granite; every other template
  with ``<tool_call>``): one JSON object ``{"name": ..., "arguments": {...}}``.

In the two tag forms a value stays a string when the tool's JSON schema
types that parameter as ``"string"``. Other values are read as JSON
(numbers, booleans, objects) and kept as strings when they do not parse.
A block that does not parse, or is not closed, stays in the reply's text.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llamamtp.llama_types import ChatCompletionMessageToolCall

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
SYNTAXES = ("xml", "arg_key", "json")

_XML_FUNCTION = re.compile(r"^\s*<function=([^>\n]+)>(.*)</function>\s*$", re.DOTALL)
_XML_PARAMETER = re.compile(r"<parameter=([^>\n]+)>(.*?)</parameter>", re.DOTALL)
# A function name in the tag forms: no whitespace or angle brackets.
_NAME = re.compile(r"[^\s<>]+")
_ARG_PAIR = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.DOTALL)


def detect_syntax(template: str) -> str | None:
    """Return the tool-call body syntax a chat template uses, or None without ``<tool_call>``."""
    if TOOL_CALL_OPEN not in template:
        return None
    if "<function=" in template:
        return "xml"
    if "<arg_key>" in template:
        return "arg_key"
    return "json"


def _parameter_types(tools: Iterable[dict[str, Any]] | None, name: str) -> dict[str, Any]:
    """JSON-schema ``type`` of each parameter of the tool called ``name``."""
    for tool in tools or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("name") == name:
            properties = (function.get("parameters") or {}).get("properties") or {}
            return {
                key: schema.get("type")
                for key, schema in properties.items()
                if isinstance(schema, dict)
            }
    return {}


def _tag_value(text: str, schema_type: Any) -> Any:
    # Templates write a newline after the opening tag and before the closing one.
    if text.startswith("\n"):
        text = text[1:]
    if text.endswith("\n"):
        text = text[:-1]
    types = schema_type if isinstance(schema_type, list) else [schema_type]
    if [kind for kind in types if kind != "null"] == ["string"]:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _call(name: str, arguments: Any) -> ChatCompletionMessageToolCall:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def parse_tool_call(
    body: str, syntax: str, tools: list[dict[str, Any]] | None = None
) -> ChatCompletionMessageToolCall | None:
    """Parse the text between ``<tool_call>`` and ``</tool_call>``; None when it does not parse."""
    if syntax == "json":
        try:
            value = json.loads(body)
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            return None
        arguments = value.get("arguments", {})
        if not isinstance(arguments, (dict, str)):
            return None
        return _call(value["name"], arguments)

    if syntax == "xml":
        match = _XML_FUNCTION.match(body)
        if match is None:
            return None
        name, inner = match.group(1).strip(), match.group(2)
        pairs = _XML_PARAMETER.findall(inner)
        leftover = _XML_PARAMETER.sub("", inner)
    elif syntax == "arg_key":
        name, _, inner = body.strip().partition("<arg_key>")
        name = name.strip()
        inner = "<arg_key>" + inner if inner else ""
        pairs = _ARG_PAIR.findall(inner)
        leftover = _ARG_PAIR.sub("", inner)
    else:
        raise ValueError(f"tool-call syntax must be one of {SYNTAXES}, got {syntax!r}")
    if not _NAME.fullmatch(name) or leftover.strip():
        return None
    types = _parameter_types(tools, name)
    arguments = {key.strip(): _tag_value(value, types.get(key.strip())) for key, value in pairs}
    return _call(name, arguments)


@dataclass
class ToolCallEvent:
    """A piece of the reply: content text, or one parsed tool call."""

    content: str = ""
    tool_call: ChatCompletionMessageToolCall | None = None


def _open_prefix(text: str) -> int:
    """Length of the longest end of ``text`` that starts ``<tool_call>``."""
    for length in range(min(len(text), len(TOOL_CALL_OPEN) - 1), 0, -1):
        if TOOL_CALL_OPEN.startswith(text[-length:]):
            return length
    return 0


class ToolCallParser:
    """Split a reply into content and tool calls as its text arrives.

    Whitespace between content and a parsed call is dropped. Content that
    resumes after a call keeps the whitespace that separates it from earlier
    content. Without a parsed call the content is the reply's text unchanged.
    Feeding the text in pieces gives the same content and calls as feeding
    it at once.
    """

    def __init__(self, syntax: str, tools: list[dict[str, Any]] | None = None) -> None:
        if syntax not in SYNTAXES:
            raise ValueError(f"tool-call syntax must be one of {SYNTAXES}, got {syntax!r}")
        self.syntax = syntax
        self.tools = tools
        self._buffer = ""  # text not yet returned as an event
        self._in_call = False  # the buffer starts with an open <tool_call>
        self._space_before = ""  # whitespace between content and the open block
        self._after_call = False  # the buffer follows a parsed call
        self._has_content = False  # some content was returned

    def feed(self, text: str) -> list[ToolCallEvent]:
        """Add reply text; return the events it completes."""
        self._buffer += text
        return self._drain()

    def finish(self) -> list[ToolCallEvent]:
        """Return the rest at the end of the reply; an open block is returned as content."""
        events = self._drain()
        if self._in_call:
            rest = self._space_before + self._buffer
        elif self._after_call:
            # Whitespace after the last call is dropped.
            rest = self._resume_after_call() if self._buffer.strip() else ""
        else:
            rest = self._buffer
        self._buffer = self._space_before = ""
        self._in_call = self._after_call = False
        if rest:
            events.append(self._content(rest))
        return events

    def _content(self, text: str) -> ToolCallEvent:
        self._has_content = True
        return ToolCallEvent(content=text)

    def _resume_after_call(self) -> str:
        """Return the buffer after a call, with leading whitespace kept only after content."""
        text = self._buffer.lstrip()
        if self._has_content and not text.startswith(TOOL_CALL_OPEN):
            return self._buffer
        return text

    def _drain(self) -> list[ToolCallEvent]:
        events: list[ToolCallEvent] = []
        while True:
            if not self._in_call:
                if self._after_call:
                    text = self._buffer.lstrip()
                    if not text or (text != TOOL_CALL_OPEN and TOOL_CALL_OPEN.startswith(text)):
                        return events  # not yet known whether content or a call follows
                    self._buffer = self._resume_after_call()
                    self._after_call = False
                start = self._buffer.find(TOOL_CALL_OPEN)
                if start < 0:
                    # Hold back what may still become a block and the whitespace before it.
                    ready = self._buffer[: len(self._buffer) - _open_prefix(self._buffer)]
                    ready = ready.rstrip()
                    if ready:
                        events.append(self._content(ready))
                        self._buffer = self._buffer[len(ready) :]
                    return events
                before = self._buffer[:start]
                content = before.rstrip()
                if content:
                    events.append(self._content(content))
                self._space_before = before[len(content) :]
                self._buffer = self._buffer[start:]
                self._in_call = True

            end = self._buffer.find(TOOL_CALL_CLOSE)
            if end < 0:
                return events
            block = self._buffer[: end + len(TOOL_CALL_CLOSE)]
            self._buffer = self._buffer[len(block) :]
            self._in_call = False
            body = block[len(TOOL_CALL_OPEN) : end]
            call = parse_tool_call(body, self.syntax, self.tools)
            if call is None:
                events.append(self._content(self._space_before + block))
            else:
                events.append(ToolCallEvent(tool_call=call))
                self._after_call = True
            self._space_before = ""


def split_tool_calls(
    text: str, syntax: str, tools: list[dict[str, Any]] | None = None
) -> tuple[str | None, list[ChatCompletionMessageToolCall]]:
    """Return a whole reply's content (None when only calls remain) and its tool calls."""
    parser = ToolCallParser(syntax, tools)
    events = parser.feed(text) + parser.finish()
    calls = [event.tool_call for event in events if event.tool_call is not None]
    content = "".join(event.content for event in events)
    if calls and not content:
        return None, calls
    return content, calls
