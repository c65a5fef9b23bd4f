"""Response and request shapes of the drop-in ``Llama``, as ``TypedDict``s.

They follow the OpenAI completion and chat completion objects, with the same
names llama-cpp-python uses, so code that type-checks against
``llama_cpp.llama_types`` also type-checks against this module.
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import NotRequired, TypedDict

JsonType = None | int | float | str | bool | list[Any] | dict[str, Any]


class CompletionLogprobs(TypedDict):
    """Per-token log probabilities of a completion choice."""

    text_offset: list[int]
    token_logprobs: list[float | None]
    tokens: list[str]
    top_logprobs: list[dict[str, float] | None]


class CompletionChoice(TypedDict):
    """One generated text."""

    text: str
    index: int
    logprobs: CompletionLogprobs | None
    finish_reason: Literal["stop", "length"] | None


class CompletionUsage(TypedDict):
    """Token counts of a request; llamamtp adds its MTP counters under extra keys."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    draft_tokens: NotRequired[int]
    accepted_draft_tokens: NotRequired[int]
    target_passes: NotRequired[int]
    prompt_tokens_reused: NotRequired[int]


class CreateCompletionResponse(TypedDict):
    """A completion, or one streamed chunk of it (chunks have no ``usage``)."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: NotRequired[CompletionUsage]


class ChatCompletionMessageToolCallFunction(TypedDict):
    name: str
    arguments: str


class ChatCompletionMessageToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: ChatCompletionMessageToolCallFunction


class ChatCompletionResponseMessage(TypedDict):
    """The assistant's reply."""

    role: Literal["assistant", "function"]
    content: str | None
    tool_calls: NotRequired[list[ChatCompletionMessageToolCall]]


class ChatCompletionResponseChoice(TypedDict):
    index: int
    message: ChatCompletionResponseMessage
    logprobs: CompletionLogprobs | None
    finish_reason: str | None


class CreateChatCompletionResponse(TypedDict):
    """A chat completion."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatCompletionResponseChoice]
    usage: CompletionUsage


class ChatCompletionMessageToolCallChunk(TypedDict):
    """A tool call in a streamed delta; ``index`` numbers the calls of the reply from 0."""

    index: int
    id: str
    type: Literal["function"]
    function: ChatCompletionMessageToolCallFunction


class ChatCompletionStreamResponseDelta(TypedDict):
    """Delta of a streamed chat chunk: the role first, then content or tool calls."""

    role: NotRequired[Literal["assistant"]]
    content: NotRequired[str | None]
    tool_calls: NotRequired[list[ChatCompletionMessageToolCallChunk]]


class ChatCompletionStreamResponseChoice(TypedDict):
    index: int
    delta: ChatCompletionStreamResponseDelta | dict[str, Any]
    logprobs: CompletionLogprobs | None
    finish_reason: str | None


class CreateChatCompletionStreamResponse(TypedDict):
    """One streamed chat completion chunk."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChatCompletionStreamResponseChoice]


class ChatCompletionRequestMessage(TypedDict):
    """A message of the conversation sent to ``create_chat_completion``."""

    role: str
    content: NotRequired[str | list[dict[str, Any]] | None]
    name: NotRequired[str]
    tool_calls: NotRequired[list[ChatCompletionMessageToolCall]]
    tool_call_id: NotRequired[str]


class ChatCompletionRequestResponseFormat(TypedDict):
    """``{"type": "json_object"}``, optionally with a ``schema``; or ``json_schema``."""

    type: Literal["text", "json_object", "json_schema"]
    schema: NotRequired[JsonType]
    json_schema: NotRequired[dict[str, Any]]


class ChatCompletionToolFunction(TypedDict):
    name: str
    description: NotRequired[str]
    parameters: dict[str, JsonType]


class ChatCompletionTool(TypedDict):
    type: Literal["function"]
    function: ChatCompletionToolFunction


class EmbeddingUsage(TypedDict):
    prompt_tokens: int
    total_tokens: int


class Embedding(TypedDict):
    index: int
    object: str
    embedding: list[float] | list[list[float]]


class CreateEmbeddingResponse(TypedDict):
    object: Literal["list"]
    model: str
    data: list[Embedding]
    usage: EmbeddingUsage


# Aliases under the names llama-cpp-python also exports.
Completion = CreateCompletionResponse
CompletionChunk = CreateCompletionResponse
CreateCompletionStreamResponse = CreateCompletionResponse
ChatCompletion = CreateChatCompletionResponse
ChatCompletionChunk = CreateChatCompletionStreamResponse
ChatCompletionMessage = ChatCompletionResponseMessage
