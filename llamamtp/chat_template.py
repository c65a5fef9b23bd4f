"""Chat templates: the Jinja template from GGUF metadata or a built-in one, rendered to a prompt.

The environment matches the one llama-cpp-python 0.3.36 gives chat
templates: a sandbox with ``trim_blocks`` and
``lstrip_blocks``, the ``loopcontrols`` extension (``{% break %}``,
``{% continue %}``), a pass-through ``{% generation %}`` tag, a ``tojson``
filter that keeps key order and non-ASCII text, ``raise_exception`` and
``strftime_now``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

if TYPE_CHECKING:
    from llamamtp.llama import Llama

# The template from the model's metadata.
FROM_METADATA = "jinja"

# Built-in templates for models whose file has none or a broken one.
BUILTIN_TEMPLATES = {
    "chatml": (
        "{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    "gemma": (
        "{{ bos_token }}"
        "{% for message in messages %}"
        "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
        "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
    ),
}


def resolve_chat_format(chat_format: str | None, llama: Llama) -> str | None:
    """Check ``chat_format`` and return the format in use (None when no template exists)."""
    if chat_format is None:
        return FROM_METADATA if llama.model.chat_template() is not None else None
    if chat_format == FROM_METADATA:
        if llama.model.chat_template() is None:
            raise ValueError(
                f"chat_format='jinja' needs a chat template in the model's metadata and "
                f"{llama.model_path!r} has none; use one of {sorted(BUILTIN_TEMPLATES)}"
            )
        return chat_format
    if chat_format not in BUILTIN_TEMPLATES:
        raise ValueError(
            f"unknown chat_format {chat_format!r}; use 'jinja' (the model's template) or one "
            f"of {sorted(BUILTIN_TEMPLATES)}"
        )
    return chat_format


def template_source(llama: Llama) -> str:
    """Return the Jinja source of the chat template ``llama`` uses."""
    if llama.chat_format is None:
        raise ValueError(
            f"{llama.model_path!r} has no chat template; create the Llama with "
            f"chat_format set to one of {sorted(BUILTIN_TEMPLATES)}"
        )
    if llama.chat_format == FROM_METADATA:
        return llama.model.chat_template()
    return BUILTIN_TEMPLATES[llama.chat_format]


class _GenerationTag(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: renders its body unchanged.

    Templates use the tag to mark assistant text for training masks.
    """

    tags = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> list[jinja2.nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # jinja2's own tojson sorts keys and escapes <, > and &, which changes the
    # tool definitions a model was trained to read. Filters such as map return
    # generators, written as lists.
    return json.dumps(
        value,
        ensure_ascii=ensure_ascii,
        indent=indent,
        separators=separators,
        sort_keys=sort_keys,
        default=_json_default,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Iterator):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _raise_exception(message: str) -> None:
    raise ValueError(f"the chat template rejected the messages: {message}")


def _strftime_now(format: str) -> str:
    return datetime.datetime.now().strftime(format)


def _environment() -> jinja2.Environment:
    environment = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[jinja2.ext.loopcontrols, _GenerationTag],
    )
    environment.filters["tojson"] = _tojson
    environment.globals["raise_exception"] = _raise_exception
    environment.globals["strftime_now"] = _strftime_now
    return environment


def _template_messages(
    messages: list[dict[str, Any]], builtin: bool, object_arguments: bool
) -> list[dict[str, Any]]:
    """Copy the messages into the form templates read.

    ``content: None`` (an assistant message that only calls tools) becomes
    "", which templates can concatenate. The built-in templates concatenate
    strings, so a list of content parts becomes its text. With
    ``object_arguments``, tool-call ``arguments`` given as JSON text (OpenAI's
    format) become the object they encode, which templates such as Qwen3.5's
    iterate with ``arguments|items``.
    """
    prepared = []
    for index, message in enumerate(messages):
        message = dict(message)
        if builtin:
            message["content"] = _content_text(message.get("content"), index)
        elif "content" in message and message["content"] is None:
            message["content"] = ""
        tool_calls = message.get("tool_calls")
        if object_arguments and isinstance(tool_calls, list):
            message["tool_calls"] = [_object_arguments(call) for call in tool_calls]
        prepared.append(message)
    return prepared


def _content_text(content: Any, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ValueError(
                    f"message {index} has a content part of type {kind!r}; the built-in chat "
                    f"formats take text only, so pass text parts or a string"
                )
            texts.append(part.get("text", ""))
        return "".join(texts)
    raise ValueError(
        f"message {index} content must be a string or a list of text parts, "
        f"got {type(content).__name__}"
    )


def _object_arguments(call: Any) -> Any:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    arguments = call["function"].get("arguments")
    if not isinstance(arguments, str):
        return call
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        return call
    if not isinstance(parsed, dict):
        return call
    return {**call, "function": {**call["function"], "arguments": parsed}}


def token_text(llama: Llama, token: int) -> str:
    """Return the text of a special token as templates write it ("" for -1)."""
    if token < 0:
        return ""
    return llama.model.vocab.token_to_piece(token, special=True).decode("utf-8", errors="ignore")


def render_chat_prompt(
    llama: Llama,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    add_generation_prompt: bool = True,
) -> str:
    """Render the conversation into the prompt text the model expects."""
    vocab = llama.model.vocab
    return render_template(
        template_source(llama),
        messages,
        builtin=llama.chat_format != FROM_METADATA,
        bos_token=token_text(llama, vocab.bos),
        eos_token=token_text(llama, vocab.eos),
        add_generation_prompt=add_generation_prompt,
        tools=tools,
        tool_choice=tool_choice,
    )


def render_template(
    source: str,
    messages: list[dict[str, Any]],
    *,
    builtin: bool = False,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
) -> str:
    """Render a chat template's source with ``messages``; ``builtin`` for the built-in ones."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...}")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise ValueError(f"message {index} must be a dict with a 'role' key, got {message!r}")

    try:
        template = _environment().from_string(source)
    except jinja2.TemplateError as error:
        raise _render_error(error) from error
    variables = {
        "bos_token": bos_token,
        "eos_token": eos_token,
        "add_generation_prompt": add_generation_prompt,
        "tools": tools,
        "tool_choice": tool_choice,
        # Templates written for llama-cpp-python's legacy function calling read these.
        "functions": None,
        "function_call": None,
    }
    try:
        prepared = _template_messages(messages, builtin, object_arguments=True)
        return template.render(messages=prepared, **variables)
    except (jinja2.TemplateError, TypeError) as error:
        first_error = error
    # Some templates concatenate arguments as text instead of iterating them.
    try:
        prepared = _template_messages(messages, builtin, object_arguments=False)
        return template.render(messages=prepared, **variables)
    except (jinja2.TemplateError, TypeError):
        raise _render_error(first_error) from first_error


def _render_error(error: Exception) -> ValueError:
    return ValueError(
        f"the chat template failed to render the messages: {type(error).__name__}: {error}; "
        f"check the messages' shape or pick a built-in template with "
        f"chat_format={sorted(BUILTIN_TEMPLATES)}"
    )
