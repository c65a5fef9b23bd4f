"""Quantize a GGUF model with llama.cpp's ``llama_model_quantize``."""

from __future__ import annotations

import os
from pathlib import Path

from llamamtp._native import ffi, lib
from llamamtp.errors import LlamaError, clear_native_error, with_native_error

FTYPES = {
    "F32": lib.LLAMA_FTYPE_ALL_F32,
    "F16": lib.LLAMA_FTYPE_MOSTLY_F16,
    "BF16": lib.LLAMA_FTYPE_MOSTLY_BF16,
    "Q8_0": lib.LLAMA_FTYPE_MOSTLY_Q8_0,
    "Q6_K": lib.LLAMA_FTYPE_MOSTLY_Q6_K,
    "Q5_K_M": lib.LLAMA_FTYPE_MOSTLY_Q5_K_M,
    "Q4_K_M": lib.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "Q4_K_S": lib.LLAMA_FTYPE_MOSTLY_Q4_K_S,
    "Q4_0": lib.LLAMA_FTYPE_MOSTLY_Q4_0,
}


def quantize(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    ftype: str = "Q8_0",
    n_threads: int = 0,
) -> Path:
    """Write a quantized copy of ``src`` to ``dst`` and return ``dst``.

    ``ftype`` is one of ``FTYPES`` (for example "Q8_0" or "Q4_K_M");
    ``n_threads=0`` uses every core.
    """
    src_path, dst_path = Path(src), Path(dst)
    if ftype not in FTYPES:
        raise ValueError(f"unknown ftype {ftype!r}; use one of {', '.join(FTYPES)}")
    if not src_path.is_file():
        raise FileNotFoundError(f"model file not found: {str(src_path)!r}")
    if not dst_path.parent.is_dir():
        raise FileNotFoundError(f"output folder not found: {str(dst_path.parent)!r}")

    params = ffi.new("llama_model_quantize_params *", lib.llama_model_quantize_default_params())
    params.nthread = n_threads
    params.ftype = FTYPES[ftype]
    clear_native_error()
    status = lib.llama_model_quantize(os.fsencode(src_path), os.fsencode(dst_path), params)
    if status != 0:
        raise LlamaError(
            with_native_error(f"llama_model_quantize failed for {str(src_path)!r} -> {ftype}")
        )
    return dst_path
