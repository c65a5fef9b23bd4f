"""Stream a GGUF file to disk tensor by tensor, atomically.

Tensor data is produced in chunks of rows and written as it is made, so memory use
stays near one chunk however large the model is. The file is written under a
temporary name in the destination folder and renamed into place only when complete;
any error or KeyboardInterrupt deletes the temporary file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import gguf
import numpy as np

from llamamtp.synthetic.tensors import TensorSpec

logger = logging.getLogger("llamamtp")

CHUNK_ELEMENTS = 16 * 1024 * 1024
"""Elements generated and written per step (64 MiB as float32)."""

GGUF_FTYPE = {np.dtype(np.float32): gguf.LlamaFileType.ALL_F32,
              np.dtype(np.float16): gguf.LlamaFileType.MOSTLY_F16}  # fmt: skip


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path after checking that a file can be created there.

    Raises before anything is written: FileNotFoundError for a missing folder,
    IsADirectoryError when ``path`` is a folder, PermissionError for a folder
    without write permission.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"output path is a folder, not a file name: {str(path)!r}")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder not found: {str(folder)!r}; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder is not writable: {str(folder)!r}")
    return path


def partial_path(path: Path) -> Path:
    """Return the temporary name a file is written under before it is renamed to ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def write_gguf(
    path: str | os.PathLike[str],
    arch: str,
    add_metadata: Callable[[gguf.GGUFWriter], None],
    specs: Sequence[TensorSpec],
    progress: bool = False,
) -> Path:
    """Write a GGUF file with the metadata ``add_metadata`` adds and the tensors ``specs`` fill.

    Returns the final path. ``progress`` shows a tqdm bar when tqdm is installed
    and logs at INFO level otherwise. Equal inputs give equal bytes.
    """
    path = check_output_path(path)
    tmp = partial_path(path)
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        add_metadata(writer)
        for spec in specs:
            writer.add_tensor_info(spec.name, spec.shape, np.dtype(spec.dtype), spec.nbytes)
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        stream = writer.fout[0]
        _write_tensor_data(stream, writer.data_alignment, specs, progress, path.name)
        stream.flush()
        os.fsync(stream.fileno())
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    logger.info("wrote %s (%.1f MiB)", path, path.stat().st_size / 2**20)
    return path


def _pad(stream, alignment: int) -> None:
    remainder = stream.tell() % alignment
    if remainder:
        stream.write(bytes(alignment - remainder))


def _write_tensor_data(stream, alignment: int, specs: Sequence[TensorSpec], progress: bool,
                       label: str) -> None:  # fmt: skip
    total = sum(spec.nbytes for spec in specs)
    bar = _progress_bar(total, label) if progress else None
    written = 0
    next_log = 0.1
    try:
        _pad(stream, alignment)
        for spec in specs:
            n_rows = spec.n_rows
            rows_per_chunk = max(1, CHUNK_ELEMENTS // spec.shape[-1])
            for start in range(0, n_rows, rows_per_chunk):
                stop = min(start + rows_per_chunk, n_rows)
                chunk = spec.fill(start, stop)
                expected = (stop - start, spec.shape[-1])
                if chunk.shape != expected:
                    raise RuntimeError(
                        f"fill of {spec.name} returned shape {chunk.shape}, expected {expected}"
                    )
                data = chunk.astype(spec.dtype, copy=False)
                data.tofile(stream)
                written += data.nbytes
                if bar is not None:
                    bar.update(data.nbytes)
            _pad(stream, alignment)
            if progress and bar is None and written >= next_log * total:
                logger.info("%s: %.0f%% of %.1f MiB written", label, 100 * written / total,
                            total / 2**20)  # fmt: skip
                next_log = written / total + 0.1
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total: int, label: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label)
