"""cffi builder for the ``llamamtp._llamamtp_cffi`` extension (API mode).

The C declarations live as header files in ``decl/``, concatenated in file-name
order into one ``cdef``; the C++ sources of our shim live in ``native/``. This
module only describes the extension; ``build.py`` decides where the llama.cpp
headers and libraries are and calls :func:`make_ffi`.
"""

from __future__ import annotations

from pathlib import Path

import cffi

# build.py loads this file by path, before the package is importable, so it
# imports nothing from llamamtp.
MODULE_NAME = "llamamtp._llamamtp_cffi"
PACKAGE_DIR = Path(__file__).resolve().parent
DECL_DIR = PACKAGE_DIR / "decl"
NATIVE_DIR = PACKAGE_DIR / "native"

# Linked in this order; libllama and libllama-common pull in the ggml backends.
LIBRARIES = ["llama-common", "llama", "ggml", "ggml-base"]


def read_cdef() -> str:
    """Concatenate every declaration header in ``decl/`` in file-name order."""
    headers = sorted(DECL_DIR.glob("*.h"))
    return "\n".join(path.read_text(encoding="utf-8") for path in headers)


def native_sources() -> list[str]:
    return [str(path) for path in sorted(NATIVE_DIR.glob("*.cpp"))]


def make_ffi(
    llama_cpp_dir: Path, library_dir: Path, commit: str, extra_link_args: list[str]
) -> cffi.FFI:
    """Describe the extension against the llama.cpp tree and built libraries given."""
    include_dirs = [
        llama_cpp_dir / "include",
        llama_cpp_dir / "src",
        llama_cpp_dir / "common",
        llama_cpp_dir / "ggml" / "include",
        DECL_DIR,
        NATIVE_DIR,
    ]

    ffi = cffi.FFI()
    ffi.cdef(read_cdef())
    ffi.set_source(
        MODULE_NAME,
        '#include "shim.h"\n#include "ggml-backend.h"\n',
        source_extension=".cpp",
        sources=native_sources(),
        include_dirs=[str(path) for path in include_dirs],
        library_dirs=[str(library_dir)],
        libraries=LIBRARIES,
        define_macros=[("LLAMAMTP_LLAMA_CPP_COMMIT", f'"{commit}"')],
        extra_compile_args=["-std=c++17", "-O2"],
        extra_link_args=extra_link_args,
    )
    return ffi
