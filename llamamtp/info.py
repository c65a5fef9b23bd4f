"""Build facts of llamamtp at run time: llama.cpp commit, backends, CPU features."""

from __future__ import annotations

from llamamtp._native import ffi, lib


def llama_cpp_commit() -> str:
    """Short hash of the llama.cpp commit the native library was built from."""
    return ffi.string(lib.llamamtp_llama_cpp_commit()).decode()


def backends() -> list[str]:
    """Names of the ggml backends compiled in, for example ``["CPU"]`` or ``["CUDA", "CPU"]``."""
    return [
        ffi.string(lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i))).decode()
        for i in range(lib.ggml_backend_reg_count())
    ]


def devices() -> list[tuple[str, str]]:
    """``(name, description)`` of every device the backends found."""
    result = []
    for i in range(lib.ggml_backend_dev_count()):
        device = lib.ggml_backend_dev_get(i)
        name = ffi.string(lib.ggml_backend_dev_name(device)).decode()
        description = ffi.string(lib.ggml_backend_dev_description(device)).decode()
        result.append((name, description))
    return result


def supports_gpu_offload() -> bool:
    return bool(lib.llama_supports_gpu_offload())


def system_info() -> str:
    """llama.cpp's feature string (SIMD extensions, backends) for this machine."""
    return ffi.string(lib.llama_print_system_info()).decode()
