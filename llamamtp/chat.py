"""Chat completion for the drop-in ``Llama``: Jinja chat templates and OpenAI chat shapes.

The template comes from the GGUF metadata (``tokenizer.chat_template``) and is
rendered with jinja2 in a sandbox, as llama-cpp-python does; ``chat_format``
picks one of the built-in templates below instead. The rendered prompt goes
through ``create_completion``, so streaming, stop strings and MTP behave the
same, and generation stops at the model's end-of-turn token.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llamamtp.llama_grammar import JSON_OBJECT_SCHEMA, LlamaGrammar
from llamamtp.llama_types import (
    CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse,
)

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


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _strftime_now(format: str) -> str:
    return datetime.datetime.now().strftime(format)


def render_chat_prompt(
    llama: Llama,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    add_generation_prompt: bool = True,
) -> str:
    """Render the conversation into the prompt text the model expects."""
    if llama.chat_format is None:
        raise ValueError(
            f"{llama.model_path!r} has no chat template; create the Llama with "
            f"chat_format set to one of {sorted(BUILTIN_TEMPLATES)}"
        )
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...}")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise ValueError(f"message {index} must be a dict with a 'role' key, got {message!r}")

    if llama.chat_format == FROM_METADATA:
        source = llama.model.chat_template()
    else:
        source = BUILTIN_TEMPLATES[llama.chat_format]
    environment = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True
    )
    template = environment.from_string(source)
    vocab = llama.model.vocab
    return template.render(
        messages=messages,
        bos_token=_token_text(llama, vocab.bos),
        eos_token=_token_text(llama, vocab.eos),
        add_generation_prompt=add_generation_prompt,
        tools=tools,
        tool_choice=tool_choice,
        raise_exception=_raise_exception,
        strftime_now=_strftime_now,
    )


def _token_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llama.model.vocab.token_to_piece(token, special=True).decode("utf-8", errors="ignore")


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

    ``tools`` and ``tool_choice`` are passed to the template; the reply is
    returned as text (tool calls are not parsed). ``response_format`` JSON
    mode constrains the reply with a grammar built from the schema.
    """
    if functions is not None or function_call is not None:
        raise NotImplementedError(
            "functions/function_call are not supported; pass tools to the chat template"
        )
    if response_format is not None and grammar is not None:
        raise ValueError("pass either response_format or grammar, not both")
    grammar = grammar or _grammar_for(response_format)
    prompt = render_chat_prompt(llama, messages, tools=tools, tool_choice=tool_choice)

    # The template writes BOS itself when the model wants one.
    vocab = llama.model.vocab
    bos_text = _token_text(llama, vocab.bos)
    add_bos = vocab.add_bos and not (bos_text and prompt.startswith(bos_text))
    prompt_tokens = vocab.tokenize(prompt, add_special=add_bos, parse_special=True)

    stops = [stop] if isinstance(stop, str) else list(stop or [])
    eos_text = _token_text(llama, vocab.eos)
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
        return _chat_chunks(completion)
    choice = completion["choices"][0]
    return {
        "id": "chat" + completion["id"],
        "object": "chat.completion",
        "created": completion["created"],
        "model": completion["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": choice["text"]},
                "logprobs": _chat_logprobs(choice["logprobs"]),
                "finish_reason": choice["finish_reason"],
            }
        ],
        "usage": completion["usage"],
    }


def _chat_chunks(chunks: Iterator[dict[str, Any]]) -> Iterator[CreateChatCompletionStreamResponse]:
    first = True
    for chunk in chunks:
        base = {
            "id": "chat" + chunk["id"],
            "object": "chat.completion.chunk",
            "created": chunk["created"],
            "model": chunk["model"],
        }
        choice = chunk["choices"][0]
        if first:
            first = False
            yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant"},
                                        "logprobs": None, "finish_reason": None}]}  # fmt: skip
        if choice["finish_reason"] is not None:
            yield {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                        "finish_reason": choice["finish_reason"]}]}  # fmt: skip
            continue
        yield {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": choice["text"]},
                    "logprobs": _chat_logprobs(choice["logprobs"]),
                    "finish_reason": None,
                }
            ],
        }


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
