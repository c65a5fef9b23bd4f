"""Generation for the CLI: prompt prefill with a progress bar, streamed text, Ctrl-C, statistics."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tqdm import tqdm

from llamamtp.cli.args import counted
from llamamtp.llama import Llama
from llamamtp.prefix_reuse import common_prefix
from llamamtp.session import SessionStats


class PromptTooLongError(ValueError):
    """The prompt does not fit in the context."""


class InterruptFlag:
    """Turn Ctrl-C (SIGINT) into a flag that the generation loop checks between chunks.

    The first Ctrl-C sets :attr:`requested`, so the loop stops after the
    current step and the caller can still print the partial output and the
    statistics. A second Ctrl-C raises ``KeyboardInterrupt`` as usual. Outside
    the main thread, where Python cannot install signal handlers, the flag
    stays unset and Ctrl-C keeps its default behavior.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        self._installed = False

    def __enter__(self) -> InterruptFlag:
        self.requested = False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def prefill(llm: Llama, tokens: list[int], show_progress: bool, interrupt: InterruptFlag) -> bool:
    """Decode the new part of a prompt batch by batch, with a progress bar; False if interrupted.

    The ``Llama`` then finds the whole prompt in its session and reuses it, because the CLI
    creates it with ``prefix_reuse="longest"``. Prompts whose new part fits in one batch are
    left to the ``Llama``. Chunks hold ``n_batch`` decoded tokens each, the same batches a
    single ``Session.prefill`` call decodes, so the result does not depend on the chunking.
    """
    session = llm.session
    n_ctx = session.n_ctx
    if len(tokens) >= n_ctx:
        raise PromptTooLongError(
            f"the prompt has {len(tokens)} tokens and does not fit in the context of {n_ctx} "
            f"tokens; shorten it or pass a larger --n-ctx"
        )
    n_batch = session.target.n_batch
    n_keep = common_prefix(session.tokens, tokens)
    if len(tokens) - n_keep <= n_batch:
        return True
    if n_keep == 0 or not session.rewind(n_keep):
        # Recurrent layers keep only a few past states, so rewinding far back fails.
        session.reset()
        n_keep = 0

    position = n_keep
    with tqdm(
        total=len(tokens) - n_keep,
        desc="prompt",
        unit="tok",
        leave=False,
        disable=not show_progress,
        file=sys.stderr,
    ) as bar:
        while position < len(tokens):
            # Without a pending token the first call decodes one token fewer than it is given.
            size = n_batch + (1 if session.pending is None else 0)
            chunk = tokens[position : position + size]
            session.prefill(chunk)
            position += len(chunk)
            bar.update(len(chunk))
            if interrupt.requested:
                return False
    return True


@dataclass(frozen=True)
class GenerationStats:
    """Cost of one generation, measured around it.

    Attributes:
        n_prompt: tokens in the prompt.
        n_prefilled: prompt tokens decoded; reused ones are not decoded again.
        prefill_seconds: seconds spent decoding them (native time).
        n_generated: tokens the target produced, an end-of-generation token included.
        generate_seconds: wall-clock seconds of generation, prompt processing excluded.
        n_steps: target passes; each verifies one draft and yields at least one token.
        n_drafted: tokens drafted by the MTP head.
        n_accepted: drafted tokens the target accepted.
        finish_reason: "stop", "length" or "interrupted".
    """

    n_prompt: int
    n_prefilled: int
    prefill_seconds: float
    n_generated: int
    generate_seconds: float
    n_steps: int
    n_drafted: int
    n_accepted: int
    finish_reason: str

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per wall-clock second (0.0 when nothing was generated)."""
        return self.n_generated / self.generate_seconds if self.generate_seconds > 0 else 0.0

    @property
    def acceptance_rate(self) -> float:
        """Accepted draft tokens per drafted token (0.0 without drafts)."""
        return self.n_accepted / self.n_drafted if self.n_drafted else 0.0


class Meter:
    """Measure a generation from the session's counters and the wall clock."""

    def __init__(self, llm: Llama) -> None:
        self._llm = llm
        self._before: SessionStats = llm.session.stats
        self._start = time.perf_counter()

    def finish(self, n_prompt: int, finish_reason: str) -> GenerationStats:
        """Return the statistics from the start of this meter until now."""
        seconds = time.perf_counter() - self._start
        after = self._llm.session.stats
        before = self._before
        prefill_seconds = after.t_prefill - before.t_prefill
        return GenerationStats(
            n_prompt=n_prompt,
            n_prefilled=after.n_prefill - before.n_prefill,
            prefill_seconds=prefill_seconds,
            n_generated=after.n_generated - before.n_generated,
            generate_seconds=max(seconds - prefill_seconds, 0.0),
            n_steps=after.n_steps - before.n_steps,
            n_drafted=after.n_drafted - before.n_drafted,
            n_accepted=after.n_accepted - before.n_accepted,
            finish_reason=finish_reason,
        )


def stream_text(
    pieces: Iterator[str], interrupt: InterruptFlag, write: Callable[[str], None]
) -> tuple[str, bool]:
    """Write text pieces as they arrive; return the text and whether Ctrl-C stopped it."""
    parts = []
    try:
        for piece in pieces:
            if piece:
                parts.append(piece)
                write(piece)
            if interrupt.requested:
                return "".join(parts), True
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    return "".join(parts), interrupt.requested


def write_stdout(text: str) -> None:
    """Write generated text to stdout at once, so it streams through pipes too."""
    sys.stdout.write(text)
    sys.stdout.flush()


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f} tokens/s" if seconds > 0 and count else "- tokens/s"


def format_stats(stats: GenerationStats, llm: Llama) -> list[str]:
    """Describe a generation in a few lines for stderr."""
    lines = [
        f"prompt: {counted(stats.n_prompt, 'token')}, {stats.n_prefilled} decoded in "
        f"{stats.prefill_seconds:.2f} s ({_rate(stats.n_prefilled, stats.prefill_seconds)})",
        f"generated: {counted(stats.n_generated, 'token')} in {stats.generate_seconds:.2f} s "
        f"({_rate(stats.n_generated, stats.generate_seconds)}), "
        f"{counted(stats.n_steps, 'target pass', 'target passes')}, "
        f"finish reason: {stats.finish_reason}",
    ]
    lines.append(f"MTP: {describe_drafting(llm)}")
    if stats.n_drafted:
        lines.append(
            f"drafts: {counted(stats.n_drafted, 'token')} drafted, {stats.n_accepted} accepted "
            f"(acceptance rate {100 * stats.acceptance_rate:.1f} %), "
            f"{stats.n_generated / max(stats.n_steps, 1):.2f} tokens per target pass"
        )
    depth = llm.session.depth_stats
    if depth is not None:
        counts = ", ".join(f"{d}: {n}" for d, n in enumerate(depth.histogram))
        lines.append(f"steps per draft depth (automatic): {counts}")
    return lines


def describe_drafting(llm: Llama) -> str:
    """Return how this ``Llama`` drafts, in a few words."""
    if llm.model.n_layer_nextn == 0:
        return "off (the model has no MTP head)"
    if llm.n_draft == 0:
        return "off (plain decoding)"
    if llm.session.auto:
        return f"automatic depth, 0 to {counted(llm.n_draft, 'draft token')} per step"
    return f"{counted(llm.n_draft, 'draft token')} per step"
