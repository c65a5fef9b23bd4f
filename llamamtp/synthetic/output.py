"""Write a model in a float type, or write it in float and quantize it with llama.cpp."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from llamamtp.quantize import FTYPES, quantize
from llamamtp.synthetic.writer import check_output_path, partial_path

logger = logging.getLogger("llamamtp")

FLOAT_FTYPES = {"F32": np.float32, "F16": np.float16}
"""File types written directly; every other name in ``llamamtp.quantize.FTYPES`` is quantized."""


def check_ftype(ftype: str) -> None:
    """Raise ValueError unless ``ftype`` is "F32", "F16" or a type ``llamamtp.quantize`` knows."""
    if ftype not in FLOAT_FTYPES and ftype not in FTYPES:
        choices = sorted(set(FLOAT_FTYPES) | set(FTYPES))
        raise ValueError(f"unknown ftype {ftype!r}; use one of {', '.join(choices)}")


def source_dtype(ftype: str, quantize_from: str) -> type[np.floating]:
    """Return the float type that tensors are written in before any quantization."""
    if ftype in FLOAT_FTYPES:
        return FLOAT_FTYPES[ftype]
    if quantize_from not in FLOAT_FTYPES:
        raise ValueError(f"quantize_from must be 'F32' or 'F16', got {quantize_from!r}")
    return FLOAT_FTYPES[quantize_from]


def write_model_file(
    path: str | os.PathLike[str],
    ftype: str,
    write_float: Callable[[Path], Path],
    n_threads: int = 0,
) -> Path:
    """Write a model to ``path`` through ``write_float``, quantizing it for a quantized ``ftype``.

    ``write_float(p)`` writes the float model atomically to ``p``. For a quantized
    ``ftype`` that float file is a hidden temporary file next to ``path``, removed
    afterwards; the quantized file is renamed into place only when complete.
    """
    path = check_output_path(path)
    if ftype in FLOAT_FTYPES:
        return write_float(path)

    source = partial_path(path).with_suffix(".float.gguf")
    target = partial_path(path)
    try:
        write_float(source)
        logger.info("quantizing %s to %s", path.name, ftype)
        quantize(source, target, ftype, n_threads=n_threads)
        os.replace(target, path)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        source.unlink(missing_ok=True)
    return path
