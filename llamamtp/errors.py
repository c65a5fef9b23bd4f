"""Exceptions raised by llamamtp and the one place native failures become them."""

from __future__ import annotations

from llamamtp._native import ffi, lib


class LlamaError(RuntimeError):
    """A llama.cpp call failed for a reason other than bad input."""


class ClosedError(LlamaError, ValueError):
    """An object was used after ``close()``."""


class ContextFullError(LlamaError):
    """A decode found no room left in the context's memory (``n_ctx``)."""


class DecodeAbortedError(LlamaError):
    """A decode was stopped by the context's abort callback."""


def clear_native_error() -> None:
    """Forget the last llama.cpp error message of this thread."""
    lib.llamamtp_clear_error()


def native_error() -> str:
    """Return the error messages llama.cpp logged on this thread since the last clear, or ""."""
    text = ffi.string(lib.llamamtp_last_error()).decode("utf-8", errors="replace")
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def with_native_error(message: str) -> str:
    """Append llama.cpp's own explanation to a message, when it gave one."""
    detail = native_error()
    return f"{message} (llama.cpp: {detail})" if detail else message


def check_decode(call: str, status: int, n_tokens: int, n_ctx: int) -> None:
    """Turn a llama_decode / llama_encode / llama_process status into an exception."""
    if status == 0:
        return
    if status == 1:
        raise ContextFullError(
            with_native_error(
                f"{call}: no room for {n_tokens} tokens in a context of n_ctx={n_ctx}; "
                f"remove tokens from memory or create the context with a larger n_ctx"
            )
        )
    if status == 2:
        raise DecodeAbortedError(f"{call}: aborted by the abort callback")
    if status == -1:
        raise ValueError(with_native_error(f"{call}: invalid batch of {n_tokens} tokens"))
    raise LlamaError(with_native_error(f"{call} failed with status {status}"))
