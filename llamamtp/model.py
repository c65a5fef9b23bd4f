"""``Model``: a GGUF model loaded by llama.cpp, with its metadata and vocabulary."""

from __future__ import annotations

import os
from pathlib import Path

from llamamtp._native import ffi, lib
from llamamtp._owner import NativeOwner
from llamamtp.errors import clear_native_error, with_native_error
from llamamtp.vocab import Vocab

_GGUF_MAGIC = b"GGUF"


class Model(NativeOwner):
    """A model loaded from a GGUF file; free it with :meth:`close` or a ``with`` block.

    ``load_mtp=True`` also loads the model's MTP (NextN) layers, needed for
    MTP drafting; a model without them loads the same either way.
    ``n_gpu_layers`` is the number of layers to offload (-1 = all).
    """

    _kind = "model"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        n_gpu_layers: int = 0,
        main_gpu: int = 0,
        vocab_only: bool = False,
        use_mmap: bool = True,
        use_mlock: bool = False,
        load_mtp: bool = False,
        check_tensors: bool = False,
    ) -> None:
        if not os.fspath(path):
            raise ValueError("model path is empty; pass the path of a GGUF file")
        self.path = Path(path)
        _check_model_file(self.path)

        params = lib.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        params.main_gpu = main_gpu
        params.vocab_only = vocab_only
        params.load_mtp = load_mtp
        params.check_tensors = check_tensors
        params.load_mode = _load_mode(use_mmap, use_mlock)

        clear_native_error()
        ptr = lib.llama_model_load_from_file(os.fsencode(self.path), params)
        if ptr == ffi.NULL:
            raise ValueError(
                with_native_error(
                    f"llama_model_load_from_file failed for {str(self.path)!r}: not a valid "
                    f"GGUF model, truncated, or of an architecture this llama.cpp does not "
                    f"support; check the file"
                )
            )
        self._own(ptr, lib.llama_model_free)
        self.vocab = Vocab(lib.llama_model_get_vocab(ptr), self)
        self.load_mtp = load_mtp

    # Sizes

    @property
    def n_vocab(self) -> int:
        """Number of tokens in the vocabulary."""
        return self.vocab.n_tokens

    @property
    def n_embd(self) -> int:
        """Width of the hidden state."""
        return lib.llama_model_n_embd(self.ptr)

    @property
    def n_layer(self) -> int:
        """Number of transformer blocks in the trunk (MTP blocks excluded)."""
        return lib.llama_model_n_layer(self.ptr)

    @property
    def n_layer_nextn(self) -> int:
        """Number of MTP (NextN) blocks; 0 for a model without an MTP head."""
        return lib.llama_model_n_layer_nextn(self.ptr)

    @property
    def n_head(self) -> int:
        return lib.llama_model_n_head(self.ptr)

    @property
    def n_ctx_train(self) -> int:
        """Context length the model was trained with."""
        return lib.llama_model_n_ctx_train(self.ptr)

    @property
    def size(self) -> int:
        """Total size of the model's tensors in bytes."""
        return lib.llama_model_size(self.ptr)

    @property
    def n_params(self) -> int:
        return lib.llama_model_n_params(self.ptr)

    @property
    def is_recurrent(self) -> bool:
        return bool(lib.llama_model_is_recurrent(self.ptr))

    @property
    def is_hybrid(self) -> bool:
        """True for models that mix attention and recurrent layers (Qwen3.5, Qwen3-Next)."""
        return bool(lib.llama_model_is_hybrid(self.ptr))

    # Metadata

    @property
    def desc(self) -> str:
        """llama.cpp's one-line description, for example "qwen35 0.8B Q8_0"."""
        return _read_string(lambda buf, size: lib.llama_model_desc(self.ptr, buf, size))

    @property
    def metadata(self) -> dict[str, str]:
        """The GGUF key/value metadata (arrays excluded), as strings."""
        ptr = self.ptr
        result = {}
        for i in range(lib.llama_model_meta_count(ptr)):
            key = _read_string(
                lambda buf, size, i=i: lib.llama_model_meta_key_by_index(ptr, i, buf, size)
            )
            value = _read_string(
                lambda buf, size, i=i: lib.llama_model_meta_val_str_by_index(ptr, i, buf, size)
            )
            result[key] = value
        return result

    def chat_template(self, name: str | None = None) -> str | None:
        """Return the model's chat template (the one called ``name`` if given), or None."""
        c_name = ffi.NULL if name is None else name.encode()
        template = lib.llama_model_chat_template(self.ptr, c_name)
        return None if template == ffi.NULL else ffi.string(template).decode("utf-8")

    @property
    def ftype(self) -> str:
        """The file's quantization, for example "Q8_0" or "Q4_K - Medium"."""
        return ffi.string(lib.llama_ftype_name(lib.llama_model_ftype(self.ptr))).decode()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.desc
        return f"Model({str(self.path)!r}, {state})"


def _check_model_file(path: Path) -> None:
    """Reject what llama.cpp would fail on with a less useful message."""
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"model path is a directory, not a GGUF file: {str(path)!r}")
    with path.open("rb") as stream:
        magic = stream.read(4)
    if magic != _GGUF_MAGIC:
        raise ValueError(
            f"not a GGUF file: {str(path)!r} starts with {magic!r}, not {_GGUF_MAGIC!r}; "
            f"convert the model to GGUF first"
        )


def _load_mode(use_mmap: bool, use_mlock: bool) -> int:
    if use_mmap and use_mlock:
        return lib.LLAMA_LOAD_MODE_MMAP_MLOCK
    if use_mmap:
        return lib.LLAMA_LOAD_MODE_MMAP
    if use_mlock:
        return lib.LLAMA_LOAD_MODE_MLOCK
    return lib.LLAMA_LOAD_MODE_NONE


def _read_string(read, size: int = 256) -> str:
    """Call a llama.cpp getter that returns the needed length, growing the buffer once."""
    buf = ffi.new("char[]", size)
    needed = read(buf, size)
    if needed < 0:
        return ""
    if needed >= size:
        buf = ffi.new("char[]", needed + 1)
        read(buf, needed + 1)
    return ffi.string(buf).decode("utf-8", errors="replace")
