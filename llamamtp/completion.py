"""Text completion for the drop-in ``Llama``: chunks, stop strings, logprobs and usage.

One generator produces the streamed chunks; a non-streamed completion is
those chunks joined, so both modes return the same text by construction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from llamamtp.llama_types import CompletionLogprobs, CreateCompletionResponse

if TYPE_CHECKING:
    from llamamtp._chain import SamplingParams
    from llamamtp.llama import Llama
    from llamamtp.processors import StoppingCriteriaList


@dataclass
class CompletionRequest:
    """One request's arguments after validation."""

    prompt_text: str
    prompt_tokens: list[int]
    max_tokens: int
    stop: list[bytes]
    echo: bool
    logprobs: int | None
    sampling: SamplingParams
    stopping_criteria: StoppingCriteriaList | None
    model_name: str


def normalize_stop(stop: str | list[str] | None) -> list[bytes]:
    """Turn llama-cpp-python's ``stop`` argument into a list of UTF-8 byte strings."""
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
        raise TypeError(f"stop must be a string or a list of strings, got {stop!r}")
    return [s.encode("utf-8") for s in stop if s]


def clamp_max_tokens(max_tokens: int | None, n_prompt: int, n_ctx: int) -> int:
    """Apply llama-cpp-python's rule: None or <= 0 means "until the context is full"."""
    if max_tokens is not None and not isinstance(max_tokens, int):
        raise TypeError(f"max_tokens must be an int or None, got {max_tokens!r}")
    room = n_ctx - n_prompt
    if max_tokens is None or max_tokens <= 0:
        return room
    return min(max_tokens, room)


def logits_to_logprobs(logits: np.ndarray) -> np.ndarray:
    """Log-softmax of a row of logits, in float32."""
    shifted = logits.astype(np.float64) - float(np.max(logits))
    return (shifted - np.log(np.sum(np.exp(shifted)))).astype(np.float32)


def _held_back(text: bytes, stop: Sequence[bytes]) -> int:
    """Bytes at the end of ``text`` that may not be emitted yet.

    They are an incomplete UTF-8 character, or the start of a stop string.
    """
    hold = 0
    for length in range(1, min(4, len(text)) + 1):
        byte = text[-length]
        if byte & 0xC0 == 0x80:
            continue
        if byte >= 0xC0:
            if byte < 0xE0:
                needed = 2
            elif byte < 0xF0:
                needed = 3
            else:
                needed = 4
            if needed > length:
                hold = length
        break
    for s in stop:
        for length in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:length]):
                hold = max(hold, length)
                break
    return hold


class _Logprobs:
    """Collects the ``logprobs`` object of a completion, token by token."""

    def __init__(self, llama: Llama, top_n: int, text_offset: int) -> None:
        self.llama = llama
        self.top_n = top_n
        self.text_offset = text_offset
        self.tokens: list[str] = []
        self.text_offsets: list[int] = []
        self.token_logprobs: list[float | None] = []
        self.top_logprobs: list[dict[str, float] | None] = []

    def add(self, token: int, piece: bytes, logits: np.ndarray) -> None:
        logprobs = logits_to_logprobs(logits)
        text = piece.decode("utf-8", errors="ignore")
        top = {}
        for other in np.argsort(-logprobs, kind="stable")[: self.top_n]:
            other_text = self.llama._piece(int(other)).decode("utf-8", errors="ignore")
            top[other_text] = float(logprobs[other])
        top[text] = float(logprobs[token])
        self.tokens.append(text)
        self.text_offsets.append(self.text_offset)
        self.token_logprobs.append(float(logprobs[token]))
        self.top_logprobs.append(top)
        self.text_offset += len(text)

    def take(self, start: int, end: int) -> CompletionLogprobs:
        return {
            "tokens": self.tokens[start:end],
            "text_offset": self.text_offsets[start:end],
            "token_logprobs": self.token_logprobs[start:end],
            "top_logprobs": self.top_logprobs[start:end],
        }


def stream_completion(
    llama: Llama, request: CompletionRequest
) -> Iterator[CreateCompletionResponse]:
    """Yield completion chunks; the last one has ``finish_reason`` and ``usage``."""
    completion_id = f"cmpl-{uuid.uuid4()}"
    created = int(time.time())

    def chunk(text: str, logprobs: CompletionLogprobs | None, finish_reason: str | None):
        return {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": request.model_name,
            "choices": [
                {"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish_reason}
            ],
        }

    stats_before = llama._session_stats()
    n_reused = llama._load_prompt(request.prompt_tokens, request.sampling)
    if request.echo:
        yield chunk(request.prompt_text, None, None)

    text = b""  # generated bytes so far
    emitted = 0  # bytes of text already sent in chunks
    n_logprob_sent = 0
    completion_tokens: list[int] = []
    token_ends: list[int] = []  # byte length of text after each token
    collector = None
    if request.logprobs is not None:
        collector = _Logprobs(llama, request.logprobs, len(request.prompt_text))
    finish_reason = "length"
    stop_at: int | None = None

    for token, logits in llama._generate_tokens(
        request.sampling,
        request.max_tokens,
        keep_logits=collector is not None or request.stopping_criteria is not None,
    ):
        if llama._model.vocab.is_eog(token):
            finish_reason = "stop"
            break
        completion_tokens.append(token)
        piece = llama._piece(token)
        text += piece
        token_ends.append(len(text))
        if collector is not None:
            collector.add(token, piece, logits)

        found = [text.find(s, max(0, emitted - len(s))) for s in request.stop]
        found = [position for position in found if position >= 0]
        if found:
            stop_at = min(found)
            finish_reason = "stop"
            break
        criteria = request.stopping_criteria
        if criteria is not None and criteria(
            np.asarray(request.prompt_tokens + completion_tokens, dtype=np.intc), logits
        ):
            finish_reason = "stop"
            break

        ready = len(text) - _held_back(text, request.stop)
        if ready > emitted:
            piece_text = text[emitted:ready].decode("utf-8", errors="ignore")
            logprobs = None
            if collector is not None:
                n_done = sum(1 for end in token_ends if end <= ready)
                logprobs = collector.take(n_logprob_sent, n_done)
                n_logprob_sent = n_done
            emitted = ready
            yield chunk(piece_text, logprobs, None)
    else:
        finish_reason = llama._finish_reason or "length"

    end = len(text) if stop_at is None else stop_at
    if end > emitted or (collector is not None and n_logprob_sent < len(completion_tokens)):
        logprobs = None
        if collector is not None:
            starts = [0, *token_ends[:-1]]
            n_done = sum(1 for start in starts if start < end or stop_at is None)
            logprobs = collector.take(n_logprob_sent, n_done)
        yield chunk(text[emitted:end].decode("utf-8", errors="ignore"), logprobs, None)

    stats = llama._session_stats()
    final = chunk("", None, finish_reason)
    final["usage"] = {
        "prompt_tokens": len(request.prompt_tokens),
        "completion_tokens": len(completion_tokens),
        "total_tokens": len(request.prompt_tokens) + len(completion_tokens),
        "prompt_tokens_reused": n_reused,
        "draft_tokens": stats.n_drafted - stats_before.n_drafted,
        "accepted_draft_tokens": stats.n_accepted - stats_before.n_accepted,
        "target_passes": stats.n_steps - stats_before.n_steps,
    }
    yield final


def join_chunks(chunks: Iterator[CreateCompletionResponse]) -> CreateCompletionResponse:
    """Join streamed chunks into one completion, as a non-streamed call returns it."""
    parts: list[str] = []
    logprobs: CompletionLogprobs | None = None
    last = None
    for last in chunks:
        choice = last["choices"][0]
        parts.append(choice["text"])
        if choice["logprobs"] is not None:
            if logprobs is None:
                logprobs = {"tokens": [], "text_offset": [], "token_logprobs": [],
                            "top_logprobs": []}  # fmt: skip
            for key in logprobs:
                logprobs[key].extend(choice["logprobs"][key])
    assert last is not None
    last["choices"][0]["text"] = "".join(parts)
    last["choices"][0]["logprobs"] = logprobs
    return last
