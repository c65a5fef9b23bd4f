"""llamamtp: llama.cpp with Multi-Token Prediction speculative decoding, from Python."""

from llamamtp._log import set_verbose
from llamamtp._version import __version__
from llamamtp.batch import Batch
from llamamtp.context import Context
from llamamtp.errors import (
    ClosedError,
    ContextFullError,
    DecodeAbortedError,
    LlamaError,
)
from llamamtp.info import backends, devices, llama_cpp_commit, system_info
from llamamtp.llama import Llama
from llamamtp.llama_cache import LlamaDiskCache, LlamaRAMCache, LlamaState
from llamamtp.llama_grammar import LlamaGrammar
from llamamtp.model import Model
from llamamtp.processors import LogitsProcessorList, StoppingCriteriaList
from llamamtp.quantize import quantize
from llamamtp.sampler import Sampler
from llamamtp.session import Session, SessionStats
from llamamtp.vocab import Vocab

__all__ = [
    "Batch",
    "ClosedError",
    "Context",
    "ContextFullError",
    "DecodeAbortedError",
    "Llama",
    "LlamaDiskCache",
    "LlamaError",
    "LlamaGrammar",
    "LlamaRAMCache",
    "LlamaState",
    "LogitsProcessorList",
    "Model",
    "Sampler",
    "Session",
    "SessionStats",
    "StoppingCriteriaList",
    "Vocab",
    "__version__",
    "backends",
    "devices",
    "llama_cpp_commit",
    "quantize",
    "set_verbose",
    "system_info",
]
