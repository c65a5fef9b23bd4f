"""Load the compiled cffi extension and initialize llama.cpp once per process."""

from __future__ import annotations

try:
    from llamamtp._llamamtp_cffi import ffi, lib
except ImportError as error:  # pragma: no cover - only without a build
    raise ImportError(
        "llamamtp's native extension is not built; run 'pip install .' or "
        "'python build.py' in the source tree first"
    ) from error

lib.llama_backend_init()

__all__ = ["ffi", "lib"]
