"""Build llamamtp's native parts: llama.cpp, our shim and the cffi extension.

    python build.py            # fetch llama.cpp if needed, build, install into llamamtp/
    python build.py --tools    # also build upstream's benchmark tools (llama-bench, ...)

Steps:

1. Fill ``vendor/llama.cpp/`` from the pinned llama-cpp-python sdist on PyPI
   (downloaded with pip, SHA-256 checked, cached), unless
   ``LLAMAMTP_LLAMA_CPP_DIR`` names a llama.cpp checkout to build instead.
2. Configure and build the shared libraries ``llama``, ``llama-common`` and
   ``ggml*`` with CMake into ``build/cmake/``. ``CMAKE_ARGS`` is appended to our
   CMake options, as with llama-cpp-python (``CMAKE_ARGS="-DGGML_CUDA=on"``).
3. Copy the libraries into ``llamamtp/lib/`` and compile the cffi extension
   into ``llamamtp/`` with an ``$ORIGIN`` rpath, so no ``LD_LIBRARY_PATH`` is needed.
4. Copy the Qwen tokenizer GGUF and chat template that ``llamamtp.synthetic``
   embeds in its models from llama.cpp's ``models/`` folder into ``llamamtp/data/``,
   so an installed package writes synthetic models without the source tree.

``pip install .`` and ``pip install -e .`` run the same steps through setup.py.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = ROOT / "llamamtp"
LIB_DIR = PACKAGE_DIR / "lib"
DATA_DIR = PACKAGE_DIR / "data"
VENDOR_DIR = ROOT / "vendor" / "llama.cpp"
BUILD_DIR = ROOT / "build"
CMAKE_BUILD_DIR = BUILD_DIR / "cmake"

# The pinned source: llama-cpp-python's sdist vendors llama.cpp at this commit.
SDIST_REQUIREMENT = "llama-cpp-python==0.3.36"
SDIST_NAME = "llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
SDIST_VENDOR_PREFIX = "llama_cpp_python-0.3.36/vendor/llama.cpp/"
PINNED_COMMIT = "0c1e570"

# Written into vendor/llama.cpp/ after a verified extraction.
SOURCE_STAMP = ".llamamtp-source.json"

# The shared libraries the package ships, by CMake target output name.
LIBRARY_NAMES = ["llama", "llama-common", "ggml", "ggml-base", "ggml-cpu"]
PACKAGE_TARGETS = ["llama", "llama-common"]
TOOL_TARGETS = [
    "llama-bench",
    "llama-speculative-simple",
    "llama-quantize",
    "llama-completion",
]

# Files of llama.cpp's tree that llamamtp.synthetic.tokenizer reads, each installed
# into llamamtp/data/ under its own name, and what happens when the tree lacks one.
PACKAGE_DATA_FILES = {
    "models/ggml-vocab-qwen35.gguf": "llamamtp.synthetic then needs vocab_path= "
    "or the LLAMAMTP_QWEN_VOCAB environment variable",
    "models/templates/Qwen3.5-4B.jinja": "synthetic models then carry the chat template "
    "stored in the tokenizer GGUF",
}


class BuildError(RuntimeError):
    """A build step failed. The message names the step and the fix."""


def log(message: str) -> None:
    print(f"[llamamtp build] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """Return the folder that keeps the downloaded sdist between builds."""
    if "LLAMAMTP_CACHE_DIR" in os.environ:
        return Path(os.environ["LLAMAMTP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "llamamtp"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist() -> Path:
    """Return the cached, hash-checked sdist, downloading it with pip if needed."""
    archive = cache_dir() / SDIST_NAME
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        log(f"downloading {SDIST_REQUIREMENT} (source only) into {archive.parent}")
        with tempfile.TemporaryDirectory(dir=archive.parent) as download_dir:
            # pip reads the sdist's metadata even for a download, which needs its build
            # backend (scikit-build-core); build isolation lets pip fetch it.
            command = [
                sys.executable, "-m", "pip", "download", "--no-deps",
                "--no-binary", ":all:", "--quiet",
                "--dest", download_dir, SDIST_REQUIREMENT,
            ]  # fmt: skip
            result = subprocess.run(command, check=False)
            downloaded = Path(download_dir) / SDIST_NAME
            if result.returncode != 0 or not downloaded.exists():
                raise BuildError(
                    f"pip download {SDIST_REQUIREMENT} failed (exit code "
                    f"{result.returncode}); check access to the package index, "
                    f"or set LLAMAMTP_LLAMA_CPP_DIR to a llama.cpp checkout"
                )
            os.replace(downloaded, archive)

    actual = sha256_of(archive)
    if actual != SDIST_SHA256:
        raise BuildError(
            f"SHA-256 mismatch for {archive}: expected {SDIST_SHA256}, got {actual}; "
            f"delete the file to download it again"
        )
    return archive


def extract_vendor(archive: Path) -> None:
    """Replace vendor/llama.cpp/ with the llama.cpp tree inside the sdist."""
    staging = VENDOR_DIR.with_name("llama.cpp.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    log(f"extracting llama.cpp {PINNED_COMMIT} into {VENDOR_DIR}")
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.name.startswith(SDIST_VENDOR_PREFIX):
                continue
            relative = member.name[len(SDIST_VENDOR_PREFIX) :]
            # The sdist's .git file points into a repository that is not shipped.
            if not relative or relative == ".git":
                continue
            member.name = relative
            tar.extract(member, staging, filter="data")

    stamp = {"sdist": SDIST_NAME, "sha256": SDIST_SHA256, "commit": PINNED_COMMIT}
    (staging / SOURCE_STAMP).write_text(json.dumps(stamp) + "\n", encoding="utf-8")
    shutil.rmtree(VENDOR_DIR, ignore_errors=True)
    os.replace(staging, VENDOR_DIR)


def vendored_source_is_current() -> bool:
    stamp_path = VENDOR_DIR / SOURCE_STAMP
    if not stamp_path.exists():
        return False
    stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    return stamp.get("sha256") == SDIST_SHA256


def git_commit(checkout: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def llama_cpp_source() -> tuple[Path, str]:
    """Return the llama.cpp tree to build and its commit."""
    override = os.environ.get("LLAMAMTP_LLAMA_CPP_DIR")
    if override:
        checkout = Path(override).expanduser().resolve()
        if not (checkout / "include" / "llama.h").exists():
            raise BuildError(
                f"LLAMAMTP_LLAMA_CPP_DIR={override} is not a llama.cpp checkout "
                f"(include/llama.h not found); point it at the repository root"
            )
        return checkout, git_commit(checkout)

    if not vendored_source_is_current():
        extract_vendor(fetch_sdist())
    return VENDOR_DIR, PINNED_COMMIT


def cmake_options(with_tools: bool) -> list[str]:
    switch = "ON" if with_tools else "OFF"
    options = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=ON",
        "-DLLAMA_BUILD_COMMON=ON",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_SERVER=OFF",
        "-DLLAMA_BUILD_APP=OFF",
        f"-DLLAMA_BUILD_TOOLS={switch}",
        f"-DLLAMA_BUILD_EXAMPLES={switch}",
        "-DLLAMA_OPENSSL=OFF",
        # Every library finds its siblings in its own folder, in build/ and installed.
        "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
        "-DCMAKE_INSTALL_RPATH=$ORIGIN",
    ]
    if shutil.which("ninja"):
        options.append("-GNinja")
    # User options last, so they win (the llama-cpp-python convention).
    options += shlex.split(os.environ.get("CMAKE_ARGS", ""))
    return options


def without_tools(options: list[str]) -> list[str]:
    switches = ("-DLLAMA_BUILD_TOOLS=", "-DLLAMA_BUILD_EXAMPLES=")
    return [option for option in options if not option.startswith(switches)]


def generator(options: list[str]) -> str:
    return "Ninja" if "-GNinja" in options else "default"


def run(command: list[str], step: str) -> None:
    log(" ".join(shlex.quote(part) for part in command))
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise BuildError(
            f"{step} failed (exit code {result.returncode}); the output above names the cause"
        )


def build_llama_cpp(source: Path, targets: list[str], with_tools: bool) -> None:
    """Configure (when the options changed) and build the given CMake targets."""
    if shutil.which("cmake") is None:
        raise BuildError("cmake not found on PATH; install CMake 3.21 or newer")

    options = cmake_options(with_tools)
    configured = {"source": str(source), "options": options}
    stamp_path = CMAKE_BUILD_DIR / "llamamtp-configure.json"
    cache = CMAKE_BUILD_DIR / "CMakeCache.txt"
    previous = None
    if stamp_path.exists() and cache.exists():
        previous = json.loads(stamp_path.read_text(encoding="utf-8"))

    if previous != configured:
        # A different tree or generator cannot reuse the build folder.
        if previous is not None and (
            previous["source"] != str(source)
            or generator(previous["options"]) != generator(options)
        ):
            shutil.rmtree(CMAKE_BUILD_DIR)
        # Changed options (CMAKE_ARGS) start from a fresh cache, so a removed
        # -DGGML_CUDA=on does not linger; object files are still reused.
        elif previous is not None and without_tools(previous["options"]) != without_tools(options):
            cache.unlink()
        CMAKE_BUILD_DIR.mkdir(parents=True, exist_ok=True)
        run(["cmake", "-S", str(source), "-B", str(CMAKE_BUILD_DIR), *options], "cmake configure")
        stamp_path.write_text(json.dumps(configured) + "\n", encoding="utf-8")

    jobs = str(os.cpu_count() or 2)
    command = ["cmake", "--build", str(CMAKE_BUILD_DIR), "--config", "Release", "-j", jobs]
    for target in targets:
        command += ["--target", target]
    run(command, "cmake build")


def built_library_dir() -> Path:
    for candidate in (CMAKE_BUILD_DIR / "bin", CMAKE_BUILD_DIR / "bin" / "Release"):
        if (candidate / "libllama.so").exists():
            return candidate
    raise BuildError(f"libllama.so not found under {CMAKE_BUILD_DIR}/bin after the build")


def install_file(source: Path, target: Path) -> None:
    """Copy by rename, so a process that has the old library loaded keeps its copy intact."""
    partial = target.with_name(target.name + ".partial")
    shutil.copy2(source, partial)
    os.replace(partial, target)


def install_libraries(built: Path) -> None:
    """Copy each shared library into llamamtp/lib/ under its SONAME (no symlinks)."""
    LIB_DIR.mkdir(parents=True, exist_ok=True)

    installed = set()
    for plain in sorted(built.glob("lib*.so")):
        stem = plain.name[len("lib") : -len(".so")]
        if stem not in LIBRARY_NAMES and not stem.startswith("ggml-"):
            continue
        # Ship the name the dynamic linker looks up: libfoo.so.N when versioned.
        versioned = [path for path in built.glob(f"lib{stem}.so.*") if path.suffix[1:].isdigit()]
        soname = min(versioned, key=lambda path: len(path.name)) if versioned else plain
        install_file(plain.resolve(), LIB_DIR / soname.name)
        installed.add(soname.name)

    # Libraries of a previous build with other options (a backend turned off).
    for stale in LIB_DIR.glob("*.so*"):
        if stale.name not in installed:
            stale.unlink()


def load_ffi_builder():
    """Import llamamtp/_ffi_build.py by path: importing the package needs the extension."""
    spec = importlib.util.spec_from_file_location(
        "llamamtp_ffi_build", PACKAGE_DIR / "_ffi_build.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_extension(source: Path, commit: str, built: Path) -> None:
    ffi = load_ffi_builder().make_ffi(source, built, commit, ["-Wl,-rpath,$ORIGIN/lib"])
    ffi_build_dir = BUILD_DIR / "ffi"
    ffi_build_dir.mkdir(parents=True, exist_ok=True)
    log("compiling the cffi extension")
    built_module = Path(ffi.compile(tmpdir=str(ffi_build_dir), verbose=False))

    for stale in PACKAGE_DIR.glob("_llamamtp_cffi*.so"):
        if stale.name != built_module.name:
            stale.unlink()
    install_file(built_module, PACKAGE_DIR / built_module.name)


def install_package_data(source: Path, target: Path = DATA_DIR) -> None:
    """Copy ``PACKAGE_DATA_FILES`` from the llama.cpp tree ``source`` into ``target``.

    A file missing from ``source`` (an older llama.cpp checkout) is skipped with a
    log line, and a copy left in ``target`` by an earlier build is removed, so the
    package never carries a tokenizer from another tree.
    """
    target.mkdir(parents=True, exist_ok=True)
    for relative, consequence in PACKAGE_DATA_FILES.items():
        origin = source / relative
        destination = target / Path(relative).name
        if origin.is_file():
            install_file(origin, destination)
        else:
            destination.unlink(missing_ok=True)
            log(f"{origin} not found, so it is not installed; {consequence}")


def build(with_tools: bool = False) -> None:
    """Run every step; safe to call again, and incremental when nothing changed."""
    source, commit = llama_cpp_source()
    targets = PACKAGE_TARGETS + (TOOL_TARGETS if with_tools else [])
    build_llama_cpp(source, targets, with_tools)
    built = built_library_dir()
    install_libraries(built)
    compile_extension(source, commit, built)
    install_package_data(source)
    if with_tools:
        log(f"tools built in {built}: {', '.join(TOOL_TARGETS)}")
    log("done")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tools",
        action="store_true",
        help="also build upstream's llama-bench, llama-speculative-simple, "
        "llama-quantize and llama-completion into build/cmake/bin (used by benchmarks)",
    )
    args = parser.parse_args()
    try:
        build(with_tools=args.tools)
    except BuildError as error:
        log(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
