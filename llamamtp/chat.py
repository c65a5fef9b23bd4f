"""Chat completion for the drop-in ``Llama``: OpenAI chat shapes, streaming and tool calls.

The prompt is the chat template rendered by :mod:`llamamtp.chat_template`. It
goes through ``create_completion``, so streaming, stop strings and MTP behave
the same, and generation stops at the model's end-of-turn token. Tool calls
in the reply are parsed by :mod:`llamamtp.tool_calls`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llamamtp import tool_calls as _tool_calls
from llamamtp.chat_template import (
    BUILTIN_TEMPLATES,
    FROM_METADATA,
    render_chat_prompt,
    resolve_chat_format,
    template_source,
    token_text,
)
from llamamtp.llama_grammar import JSON_OBJECT_SCHEMA, LlamaGrammar
from llamamtp.llama_types import (
    CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse,
)

if TYPE_CHECKING:
    from llamamtp.llama import Llama

__all__ = [
    "BUILTIN_TEMPLATES",
    "FROM_METADATA",
    "create_chat_completion",
    "create_chat_completion_openai_v1",
    "render_chat_prompt",
    "resolve_chat_format",
]


def _grammar_for(response_format: dict[str, Any] | None) -> LlamaGrammar | None:
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return LlamaGrammar.from_json_schema(response_format.get("schema") or JSON_OBJECT_SCHEMA)
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema is None:
            raise ValueError("response_format type 'json_schema' needs json_schema.schema")
        return LlamaGrammar.from_json_schema(schema)
    raise ValueError(
        f"response_format type must be 'text', 'json_object' or 'json_schema', got {kind!r}"
    )


def create_chat_completion(
    llama: Llama,
    messages: list[dict[str, Any]],
    functions: list[dict[str, Any]] | None = None,
    function_call: Any = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    temperature: float = 0.2,
    top_p: float = 0.95,
    top_k: int = 40,
    min_p: float = 0.05,
    typical_p: float = 1.0,
    stream: bool = False,
    stop: str | list[str] | None = None,
    seed: int | None = None,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
    presence_penalty: float = 0.0,
    frequency_penalty: float = 0.0,
    repeat_penalty: float = 1.0,
    tfs_z: float = 1.0,
    mirostat_mode: int = 0,
    mirostat_tau: float = 5.0,
    mirostat_eta: float = 0.1,
    model: str | None = None,
    logits_processor: Any = None,
    grammar: LlamaGrammar | None = None,
    logit_bias: dict[int, float] | None = None,
    logprobs: bool | None = None,
    top_logprobs: int | None = None,
) -> CreateChatCompletionResponse | Iterator[CreateChatCompletionStreamResponse]:
    """Generate the assistant's reply to ``messages``, with llama-cpp-python's arguments.

    ``tools`` and ``tool_choice`` are passed to the template. When the
    template has a ``<tool_call>`` format (see :mod:`llamamtp.tool_calls`),
    calls in the reply are returned as ``message["tool_calls"]`` with
    ``finish_reason="tool_calls"``; ``tool_choice="none"`` turns the parsing
    off. ``response_format`` JSON mode constrains the reply with a grammar
    built from the schema.
    """
    if functions is not None or function_call is not None:
        raise NotImplementedError(
            "functions/function_call are not supported; pass tools to the chat template"
        )
    if response_format is not None and grammar is not None:
        raise ValueError("pass either response_format or grammar, not both")
    _check_tools(tools, tool_choice)
    grammar = grammar or _grammar_for(response_format)
    prompt = render_chat_prompt(llama, messages, tools=tools, tool_choice=tool_choice)
    syntax = None
    if tools and tool_choice != "none":
        syntax = _tool_calls.detect_syntax(template_source(llama))

    # The template writes BOS itself when the model wants one.
    vocab = llama.model.vocab
    bos_text = token_text(llama, vocab.bos)
    add_bos = vocab.add_bos and not (bos_text and prompt.startswith(bos_text))
    prompt_tokens = vocab.tokenize(prompt, add_special=add_bos, parse_special=True)

    stops = [stop] if isinstance(stop, str) else list(stop or [])
    eos_text = token_text(llama, vocab.eos)
    if eos_text:
        stops.append(eos_text)
    completion = llama.create_completion(
        prompt=prompt_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        min_p=min_p,
        typical_p=typical_p,
        logprobs=(top_logprobs or 0) if logprobs else None,
        stream=stream,
        stop=stops,
        seed=seed,
        max_tokens=max_tokens,
        presence_penalty=presence_penalty,
        frequency_penalty=frequency_penalty,
        repeat_penalty=repeat_penalty,
        tfs_z=tfs_z,
        mirostat_mode=mirostat_mode,
        mirostat_tau=mirostat_tau,
        mirostat_eta=mirostat_eta,
        model=model,
        logits_processor=logits_processor,
        grammar=grammar,
        logit_bias=logit_bias,
    )
    if stream:
        if syntax is not None:
            return _chat_chunks_with_tools(completion, _tool_calls.ToolCallParser(syntax, tools))
        return _chat_chunks(completion)

    choice = completion["choices"][0]
    message: dict[str, Any] = {"role": "assistant", "content": choice["text"]}
    finish_reason = choice["finish_reason"]
    if syntax is not None:
        content, calls = _tool_calls.split_tool_calls(choice["text"], syntax, tools)
        if calls:
            message = {"role": "assistant", "content": content, "tool_calls": calls}
            finish_reason = _tool_finish_reason(finish_reason)
    return {
        "id": "chat" + completion["id"],
        "object": "chat.completion",
        "created": completion["created"],
        "model": completion["model"],
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": _chat_logprobs(choice["logprobs"]),
                "finish_reason": finish_reason,
            }
        ],
        "usage": completion["usage"],
    }


def _check_tools(tools: Any, tool_choice: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise ValueError(f"tools must be a list of {{'type': 'function', ...}}, got {tools!r}")
    names = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ValueError(
                f"tool {index} must be {{'type': 'function', 'function': {{'name': ...}}}}, "
                f"got {tool!r}"
            )
        names.append(function["name"])
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if name not in names:
            raise ValueError(f"tool_choice names {name!r}, which is not in tools {names}")


def _tool_finish_reason(finish_reason: str | None) -> str | None:
    # A reply cut off by max_tokens keeps "length", as OpenAI reports it.
    return "tool_calls" if finish_reason == "stop" else finish_reason


def _chunk_base(chunk: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chat" + chunk["id"],
        "object": "chat.completion.chunk",
        "created": chunk["created"],
        "model": chunk["model"],
    }


def _delta_chunk(
    base: dict[str, Any],
    delta: dict[str, Any],
    logprobs: dict[str, Any] | None = None,
    finish_reason: str | None = None,
) -> CreateChatCompletionStreamResponse:
    choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
    return {**base, "choices": [choice]}


def _chat_chunks(chunks: Iterator[dict[str, Any]]) -> Iterator[CreateChatCompletionStreamResponse]:
    first = True
    for chunk in chunks:
        base = _chunk_base(chunk)
        choice = chunk["choices"][0]
        if first:
            first = False
            yield _delta_chunk(base, {"role": "assistant"})
        if choice["finish_reason"] is not None:
            yield _delta_chunk(base, {}, finish_reason=choice["finish_reason"])
            continue
        yield _delta_chunk(base, {"content": choice["text"]}, _chat_logprobs(choice["logprobs"]))


def _chat_chunks_with_tools(
    chunks: Iterator[dict[str, Any]], parser: _tool_calls.ToolCallParser
) -> Iterator[CreateChatCompletionStreamResponse]:
    """Stream content deltas and, once a ``<tool_call>`` block closes, a ``tool_calls`` delta.

    Text that may start a block is held back until it does or cannot. Each
    delta carries the logprobs of the tokens read since the previous delta.
    """
    first = True
    n_calls = 0
    pending_logprobs: list[dict[str, Any]] = []
    for chunk in chunks:
        base = _chunk_base(chunk)
        choice = chunk["choices"][0]
        if first:
            first = False
            yield _delta_chunk(base, {"role": "assistant"})
        if choice["logprobs"] is not None:
            pending_logprobs.append(choice["logprobs"])
        finish_reason = choice["finish_reason"]
        events = parser.finish() if finish_reason is not None else parser.feed(choice["text"])
        for event in events:
            logprobs = _chat_logprobs(_merge_logprobs(pending_logprobs))
            pending_logprobs = []
            if event.tool_call is None:
                yield _delta_chunk(base, {"content": event.content}, logprobs)
            else:
                delta = {"tool_calls": [{"index": n_calls, **event.tool_call}]}
                n_calls += 1
                yield _delta_chunk(base, delta, logprobs)
        if finish_reason is not None:
            if n_calls:
                finish_reason = _tool_finish_reason(finish_reason)
            logprobs = _chat_logprobs(_merge_logprobs(pending_logprobs))
            yield _delta_chunk(base, {}, logprobs, finish_reason)


def _merge_logprobs(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not parts:
        return None
    return {key: [value for part in parts for value in part[key]] for key in parts[0]}


def _chat_logprobs(logprobs: dict[str, Any] | None) -> dict[str, Any] | None:
    """Convert completion logprobs to the chat shape (``{"content": [...]}``)."""
    if logprobs is None:
        return None
    content = []
    for token, logprob, top in zip(
        logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"], strict=False
    ):
        content.append(
            {
                "token": token,
                "logprob": logprob,
                "bytes": None,
                "top_logprobs": [
                    {"token": text, "logprob": value, "bytes": None}
                    for text, value in (top or {}).items()
                ],
            }
        )
    return {"content": content, "refusal": None}


def create_chat_completion_openai_v1(llama: Llama, *args: Any, **kwargs: Any):
    """``create_chat_completion`` returning ``openai.types.chat`` objects (needs ``openai``)."""
    try:
        from openai.types.chat import ChatCompletion, ChatCompletionChunk
    except ImportError as error:
        raise ImportError(
            "create_chat_completion_openai_v1 needs the openai package; pip install openai"
        ) from error
    result = llama.create_chat_completion(*args, **kwargs)
    if kwargs.get("stream"):
        return (ChatCompletionChunk(**chunk) for chunk in result)
    return ChatCompletion(**result)
