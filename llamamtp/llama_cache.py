"""Saved sequence states and the prompt caches built on them (``Llama.set_cache``)."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class LlamaState:
    """A snapshot of a :class:`~llamamtp.Llama`'s sequence, from ``save_state``.

    Attributes:
        input_ids: every token of the sequence, the pending one included.
        target_state: the target context's ``llama_state`` bytes.
        mtp_state: the MTP context's state bytes (empty without MTP).
        pending_h: the MTP input hidden state (empty without MTP).
        n_prefilled: leading positions written by a ubatch-aligned prefill.
        seed: the Llama's seed when the state was saved.
        n_draft: the draft depth the Llama was created with.
    """

    input_ids: np.ndarray
    target_state: bytes
    mtp_state: bytes
    pending_h: np.ndarray
    n_prefilled: int
    seed: int
    n_draft: int

    @property
    def n_tokens(self) -> int:
        """Tokens in the saved sequence."""
        return len(self.input_ids)

    @property
    def llama_state_size(self) -> int:
        """Bytes of native state held."""
        return len(self.target_state) + len(self.mtp_state)


class BaseLlamaCache:
    """A mapping from token sequences to states, looked up by longest common prefix."""

    def __init__(self, capacity_bytes: int = 2 << 30) -> None:
        if capacity_bytes <= 0:
            raise ValueError(f"capacity_bytes must be positive, got {capacity_bytes}")
        self.capacity_bytes = capacity_bytes

    @property
    def cache_size(self) -> int:
        """Bytes of state held."""
        raise NotImplementedError

    def _keys(self) -> list[tuple[int, ...]]:
        raise NotImplementedError

    def _find_prefix_key(self, key: tuple[int, ...]) -> tuple[int, ...] | None:
        best, best_length = None, 0
        for candidate in self._keys():
            length = 0
            for a, b in zip(candidate, key, strict=False):
                if a != b:
                    break
                length += 1
            if length > best_length:
                best, best_length = candidate, length
        return best

    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        raise NotImplementedError

    def __contains__(self, key: Sequence[int]) -> bool:
        return self._find_prefix_key(tuple(key)) is not None

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        raise NotImplementedError


class LlamaRAMCache(BaseLlamaCache):
    """States kept in memory, least recently used dropped beyond ``capacity_bytes``."""

    def __init__(self, capacity_bytes: int = 2 << 30) -> None:
        super().__init__(capacity_bytes)
        self.cache_state: OrderedDict[tuple[int, ...], LlamaState] = OrderedDict()

    @property
    def cache_size(self) -> int:
        return sum(state.llama_state_size for state in self.cache_state.values())

    def _keys(self) -> list[tuple[int, ...]]:
        return list(self.cache_state)

    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        found = self._find_prefix_key(tuple(key))
        if found is None:
            raise KeyError("no cached state shares a prefix with these tokens")
        self.cache_state.move_to_end(found)
        return self.cache_state[found]

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        key = tuple(key)
        self.cache_state.pop(key, None)
        self.cache_state[key] = value
        while self.cache_size > self.capacity_bytes and len(self.cache_state) > 1:
            self.cache_state.popitem(last=False)


class LlamaDiskCache(BaseLlamaCache):
    """States pickled into files under ``cache_dir``, oldest dropped beyond ``capacity_bytes``.

    Only load a cache directory this process or a trusted one wrote: the
    files are pickles.
    """

    def __init__(self, cache_dir: str | os.PathLike[str] = ".cache/llama_cache",
                 capacity_bytes: int = 2 << 30) -> None:  # fmt: skip
        super().__init__(capacity_bytes)
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, key: tuple[int, ...]) -> Path:
        digest = hashlib.sha256(np.asarray(key, dtype=np.int64).tobytes()).hexdigest()
        return self.cache_dir / f"{digest}.state"

    def _entries(self) -> list[Path]:
        return sorted(self.cache_dir.glob("*.state"), key=lambda path: path.stat().st_mtime)

    @property
    def cache_size(self) -> int:
        return sum(path.stat().st_size for path in self._entries())

    def _keys(self) -> list[tuple[int, ...]]:
        keys = []
        for path in self._entries():
            with path.open("rb") as stream:
                keys.append(tuple(int(t) for t in pickle.load(stream)[0]))
        return keys

    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        found = self._find_prefix_key(tuple(key))
        if found is None:
            raise KeyError("no cached state shares a prefix with these tokens")
        path = self._path(found)
        with path.open("rb") as stream:
            _, state = pickle.load(stream)
        os.utime(path)
        return state

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        key = tuple(key)
        path = self._path(key)
        temporary = path.with_suffix(".tmp")
        with temporary.open("wb") as stream:
            pickle.dump((key, value), stream)
        temporary.replace(path)
        entries = self._entries()
        while len(entries) > 1 and sum(p.stat().st_size for p in entries) > self.capacity_bytes:
            entries.pop(0).unlink()
