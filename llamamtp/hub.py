"""Download GGUF files from the Hugging Face Hub for ``Llama.from_pretrained``."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path


def download_model(
    repo_id: str,
    filename: str | None,
    additional_files: list[str] | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    local_dir_use_symlinks: bool | str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
) -> str:
    """Return the local path of the one file in ``repo_id`` matching ``filename`` (a glob).

    Files come from the Hub or, with ``HF_HUB_OFFLINE=1``, from the local
    cache only. ``additional_files`` (globs too) are fetched next to it, for
    split models. Raises ``ValueError`` when no file or several files match.
    """
    try:
        import huggingface_hub
        import huggingface_hub.constants
    except ImportError as error:
        raise ImportError(
            "Llama.from_pretrained needs huggingface_hub; install it with "
            "pip install 'llamamtp[hub]'"
        ) from error
    del local_dir_use_symlinks  # accepted for compatibility; huggingface_hub decides

    if not filename:
        raise ValueError("filename is empty; pass a file name or glob such as '*Q4_K_M.gguf'")
    files = _repo_files(huggingface_hub, repo_id, cache_dir)
    path = _download(huggingface_hub, repo_id, _match_one(files, filename, repo_id),
                     local_dir, cache_dir)  # fmt: skip
    for pattern in additional_files or []:
        _download(huggingface_hub, repo_id, _match_one(files, pattern, repo_id),
                  local_dir, cache_dir)  # fmt: skip
    return path


def _repo_files(huggingface_hub, repo_id: str, cache_dir) -> list[str]:
    """Return the repository's file names: from the Hub, or the cached snapshot when offline."""
    if not huggingface_hub.constants.HF_HUB_OFFLINE:
        return list(huggingface_hub.list_repo_files(repo_id))
    snapshot = Path(
        huggingface_hub.snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True)
    )
    return [
        path.relative_to(snapshot).as_posix()
        for path in snapshot.rglob("*")
        if path.is_file() or path.is_symlink()
    ]


def _match_one(files: list[str], pattern: str, repo_id: str) -> str:
    matches = [name for name in files if fnmatch.fnmatch(name, pattern)]
    if not matches:
        raise ValueError(f"no file in {repo_id!r} matches {pattern!r}; available: {sorted(files)}")
    if len(matches) > 1:
        raise ValueError(
            f"{len(matches)} files in {repo_id!r} match {pattern!r}: {sorted(matches)}; "
            f"use a pattern that matches one"
        )
    return matches[0]


def _download(huggingface_hub, repo_id: str, filename: str, local_dir, cache_dir) -> str:
    return huggingface_hub.hf_hub_download(
        repo_id=repo_id, filename=filename, local_dir=local_dir, cache_dir=cache_dir
    )
