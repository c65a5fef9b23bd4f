"""Route llama.cpp's log messages to ``logging.getLogger("llamamtp")``.

The native shim filters by level before calling into Python, so a silent
library costs nothing per decode. By default nothing is forwarded (as
``verbose=False`` in llama-cpp-python); error messages are still kept by the
shim and appear in the exceptions llamamtp raises.
"""

from __future__ import annotations

import logging

from llamamtp._native import ffi, lib

logger = logging.getLogger("llamamtp")
native_logger = logging.getLogger("llamamtp.llama_cpp")

# ggml_log_level -> logging level (GGML_LOG_LEVEL_CONT continues the previous message).
_LEVELS = {
    lib.GGML_LOG_LEVEL_NONE: logging.INFO,
    lib.GGML_LOG_LEVEL_DEBUG: logging.DEBUG,
    lib.GGML_LOG_LEVEL_INFO: logging.INFO,
    lib.GGML_LOG_LEVEL_WARN: logging.WARNING,
    lib.GGML_LOG_LEVEL_ERROR: logging.ERROR,
}
_SILENT = lib.GGML_LOG_LEVEL_ERROR + 1

_pending: list[str] = []
_pending_level = logging.INFO
_handler: logging.Handler | None = None


@ffi.def_extern()
def llamamtp_py_log(level: int, text) -> None:  # noqa: ANN001 - cffi callback
    global _pending_level
    if level != lib.GGML_LOG_LEVEL_CONT:
        _flush()
        _pending_level = _LEVELS.get(level, logging.INFO)
    _pending.append(ffi.string(text).decode("utf-8", errors="replace"))
    if _pending[-1].endswith("\n"):
        _flush()


def _flush() -> None:
    if not _pending:
        return
    message = "".join(_pending).rstrip("\n")
    _pending.clear()
    if message:
        native_logger.log(_pending_level, "%s", message)


def set_verbose(verbose: bool) -> None:
    """Forward llama.cpp's messages to logging (``True``) or keep it silent (``False``).

    Verbose mode forwards info and above (debug too when the ``llamamtp``
    logger is enabled for debug) and, when logging has no handler configured,
    prints them to stderr as llama.cpp itself would.
    """
    global _handler
    if not verbose:
        lib.llamamtp_log_install(_SILENT)
        return

    if logger.isEnabledFor(logging.DEBUG):
        min_level = lib.GGML_LOG_LEVEL_DEBUG
    else:
        min_level = lib.GGML_LOG_LEVEL_INFO
    if _handler is None and not logging.getLogger().handlers and not logger.handlers:
        _handler = logging.StreamHandler()
        _handler.setFormatter(logging.Formatter("%(message)s"))
        native_logger.addHandler(_handler)
        native_logger.setLevel(logging.DEBUG)
    lib.llamamtp_log_install(min_level)


set_verbose(False)
