"""Python logits processors and stopping criteria, as in llama-cpp-python.

A logits processor is ``f(input_ids, scores) -> scores`` over numpy arrays. It
runs inside the native sampler chain through a llama.cpp sampler whose apply
calls back into Python, so with MTP it runs once for every verified position:
up to ``draft_n_max + 1`` times per target pass, including positions whose
token is then rejected. Each call copies ``n_vocab`` logits twice, which costs
about as much as the rest of sampling; a chain without processors never
enters Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from llamamtp._native import ffi, lib

LogitsProcessor = Callable[[npt.NDArray[np.intc], npt.NDArray[np.single]], npt.NDArray[np.single]]
StoppingCriteria = Callable[[npt.NDArray[np.intc], npt.NDArray[np.single]], bool]

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class LogitsProcessorList(list):
    """Logits processors applied in order; calling the list applies them all."""

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class StoppingCriteriaList(list):
    """Stopping criteria; calling the list is True when any of them is."""

    def __call__(self, input_ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        return any(criterion(input_ids, logits) for criterion in self)


class PythonSampler:
    """A native sampler that runs a logits processor on every position it samples.

    ``input_ids`` starts as the prompt and grows by every token the chain
    accepts. An exception raised by the processor makes the chain select no
    token; :meth:`raise_error` then raises it in the caller.
    """

    def __init__(self, processor: LogitsProcessor, prompt: Sequence[int]) -> None:
        self.processor = processor
        self.input_ids: list[int] = list(prompt)
        self.error: BaseException | None = None
        self._handle = ffi.new_handle(self)
        self.ptr = lib.llamamtp_sampler_py_init(self._handle)

    def apply(self, cur_p: Any) -> None:
        data = np.frombuffer(
            ffi.buffer(cur_p.data, cur_p.size * ffi.sizeof("llama_token_data")), _TOKEN_DATA
        )
        # The chain receives the candidates in token-id order, so ids index scores.
        ids = data["id"]
        scores = np.full(int(ids.max()) + 1, -np.inf, dtype=np.single)
        scores[ids] = data["logit"]
        result = self.processor(np.asarray(self.input_ids, dtype=np.intc), scores)
        data["logit"] = np.asarray(result, dtype=np.single)[ids]

    def raise_error(self) -> None:
        """Raise the exception a processor raised during the last step, if any."""
        error, self.error = self.error, None
        if error is not None:
            raise error


@ffi.def_extern(error=-1)
def llamamtp_py_sampler_apply(handle, cur_p) -> int:  # noqa: ANN001 - cffi callback
    sampler: PythonSampler = ffi.from_handle(handle)
    try:
        sampler.apply(cur_p)
    except BaseException as error:
        sampler.error = error
        return -1
    return 0


@ffi.def_extern()
def llamamtp_py_sampler_accept(handle, token: int) -> None:  # noqa: ANN001 - cffi callback
    sampler: PythonSampler = ffi.from_handle(handle)
    sampler.input_ids.append(token)
