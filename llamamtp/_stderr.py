"""Capture what native code writes straight to the process's stderr.

A few llama.cpp paths bypass its log callback and call ``fprintf(stderr)``:
the GBNF parser prints why a grammar is invalid that way. Capturing file
descriptor 2 around such a call keeps that text out of the user's terminal
or notebook and lets the exception carry it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


class CapturedText:
    """Text written to file descriptor 2 inside ``captured_stderr``, set when the block ends."""

    def __init__(self) -> None:
        self.text = ""


@contextmanager
def captured_stderr() -> Iterator[CapturedText]:
    """Redirect file descriptor 2 to a temporary file for the block and collect the text.

    Other threads that write to stderr during the block are captured too, so
    the block should be one short native call. Where file descriptor 2 cannot
    be duplicated (closed, or no such descriptor), nothing is captured.
    """
    captured = CapturedText()
    try:
        saved = os.dup(2)
    except OSError:
        yield captured
        return
    try:
        with tempfile.TemporaryFile() as target:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(target.fileno(), 2)
            try:
                yield captured
            finally:
                os.dup2(saved, 2)
                target.seek(0)
                captured.text = target.read().decode("utf-8", errors="replace")
    finally:
        os.close(saved)
