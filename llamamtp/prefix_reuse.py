"""Prompt prefix reuse for the drop-in ``Llama``: what a new prompt keeps of the last sequence.

``prefix_reuse="exact"`` keeps only positions that a fresh prefill of the new
prompt would compute bit for bit, ``"longest"`` keeps the longest common
prefix, and ``None`` keeps nothing (docs/compatibility.md explains why).

Attention memory can drop any suffix, so the session rewinds to the shared
part. The Gated DeltaNet layers of Qwen3.5 models keep one recurrent state per
sequence, which llama.cpp rolls back by only a few positions. On models with
such layers every prompt prefill therefore also saves checkpoints of that
state (:meth:`Session.save_checkpoint`) where a later prompt is likely to
depart from this one. A new prompt resumes from the latest checkpoint that its
common prefix reaches.
"""

from __future__ import annotations

from collections.abc import Sequence

from llamamtp.session import Session

DEFAULT_N_CTX_CHECKPOINTS = 4
"""Checkpoints a ``Llama`` keeps by default, oldest dropped first.

One checkpoint contains the target's recurrent state: per Gated DeltaNet layer,
``(d_conv - 1) * (d_inner + 2 * n_group * d_state)`` convolution values and
``d_state * d_inner`` recurrent values, in F32, which is llama.cpp's layout.
That is about 19 MiB for the 0.8B preset of :mod:`llamamtp.synthetic` and
50 MiB for its 4B preset (18 and 24 such layers), so four cost 77 and 201 MiB.
A prompt saves up to two (``"exact"``) or three (``"longest"``), so four keep
the last prompt's and some of the one before.
"""

CHECKPOINT_TAIL = 8
"""Tokens before the end of a prompt where ``"longest"`` reuse saves a checkpoint.

Chat templates render the end of a conversation differently once a reply
follows it. Qwen3.5's template opens the reply with ``<think>\\n``
(``<think>\\n\\n</think>\\n\\n`` with thinking off) and leaves that out of
the history. The next prompt therefore departs from this one 2 to 4 tokens
before its end, or 3 to 6 with a vocabulary that splits ``<think>`` into
pieces, as the one vendored with llama.cpp does. A completion prompt that continues
generated text can also tokenize its last word differently. Eight tokens
cover those cases with a margin for templates that change a few more, and
decoding them again costs little.
"""


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Return the number of leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PrefixReuse:
    """Positions a :class:`Session` for each new prompt and prefills the rest.

    One instance serves one session. ``n_ctx_checkpoints`` caps the
    checkpoints kept on models with recurrent layers. With 0, such models
    prefill a prompt from the start unless it drops only the last few
    positions of the sequence.
    """

    def __init__(self, n_ctx_checkpoints: int) -> None:
        self.n_ctx_checkpoints = n_ctx_checkpoints
        # Whether each checkpoint, by n_past, was saved under "exact" reuse, so
        # that every position before it is what a fresh prefill computes.
        self._exact: dict[int, bool] = {}

    def load(self, session: Session, tokens: list[int], mode: str | None, n_prefilled: int) -> int:
        """Make ``tokens`` the session's sequence; return how many leading tokens were kept.

        ``n_prefilled`` is the number of leading positions that the last
        prompt prefill wrote starting on a pass boundary.
        """
        n_keep = reusable_prefix(session, tokens, mode, n_prefilled)
        if n_keep == 0 or not session.rewind(n_keep):
            n_keep = self._resume_from_checkpoint(session, tokens, mode)
            if n_keep == 0:
                session.reset()
        self._prefill(session, tokens, n_keep, mode)
        return n_keep

    def _uses_checkpoints(self, session: Session, mode: str | None) -> bool:
        return mode is not None and self.n_ctx_checkpoints > 0 and _is_recurrent(session)

    def _resume_from_checkpoint(self, session: Session, tokens: list[int], mode: str | None) -> int:
        """Load the latest checkpoint ``tokens`` can use; return the tokens kept, 0 for none."""
        if not self._uses_checkpoints(session, mode):
            return 0
        common = common_prefix(session.tokens, tokens)
        unit = prefill_unit(session)
        usable = []
        for checkpoint in session.checkpoints:
            n_past = checkpoint.n_past
            # The prompt must share the checkpoint's tokens and have a token after them.
            if n_past > common or n_past >= len(tokens):
                continue
            # "exact": a fresh prefill of the prompt reaches the same state at
            # n_past when a pass starts there, or when its prefill ends there too.
            aligned = n_past % unit == 0 or n_past == len(tokens) - 1
            if mode == "exact" and not (aligned and self._exact.get(n_past, False)):
                continue
            usable.append(n_past)
        if not usable:
            return 0
        n_past = max(usable)
        session.load_checkpoint(n_past, tokens[n_past])
        return n_past + 1

    def _checkpoint_positions(
        self, session: Session, n_keep: int, n_tokens: int, mode: str | None
    ) -> list[int]:
        """Return the ``n_past`` values where prefilling ``n_tokens`` tokens saves a checkpoint."""
        if not self._uses_checkpoints(session, mode):
            return []
        end = n_tokens - 1  # n_past once the prompt is prefilled
        # The last pass boundary lets a longer prompt resume exactly, the end
        # lets the same prompt resume, and the tail covers a re-rendered end.
        positions = {end - end % prefill_unit(session), end}
        if mode == "longest":
            positions.add(end - CHECKPOINT_TAIL)
        start = max(n_keep - 1, 0)  # n_past before prefilling
        return sorted(n_past for n_past in positions if n_past > start)

    def _prefill(self, session: Session, tokens: list[int], n_keep: int, mode: str | None) -> None:
        """Prefill ``tokens[n_keep:]``, stopping at each checkpoint position to save one.

        Under ``"exact"`` reuse the split points are pass boundaries or the
        prompt's end, so the passes are those of one prefill call.
        """
        position = n_keep  # index of the first token not in the session yet
        positions = self._checkpoint_positions(session, n_keep, len(tokens), mode)
        for n_past in positions:
            session.prefill(tokens[position : n_past + 1])
            position = n_past + 1
            session.save_checkpoint(self.n_ctx_checkpoints)
            self._exact[n_past] = mode == "exact"
        if position < len(tokens):
            session.prefill(tokens[position:])
        if positions:
            kept = {checkpoint.n_past for checkpoint in session.checkpoints}
            self._exact = {n_past: exact for n_past, exact in self._exact.items() if n_past in kept}


def reusable_prefix(session: Session, tokens: list[int], mode: str | None, n_prefilled: int) -> int:
    """Number of leading tokens to keep (``Session.rewind``'s ``n_keep``), 0 for none."""
    if mode is None:
        return 0
    common = common_prefix(session.tokens, tokens)
    if mode == "longest":
        return min(common, len(tokens))
    # "exact": the same prompt again returns to the state its prefill left.
    if common >= len(tokens) and n_prefilled == len(tokens) - 1:
        return len(tokens)
    # Otherwise keep whole ubatches of the last prefill, so the rest is
    # evaluated in the same ubatches as a fresh prefill would use. llama.cpp's
    # CPU kernels round differently for other batch shapes.
    unit = prefill_unit(session)
    limit = min(common - 1, n_prefilled)
    aligned = (limit // unit) * unit
    return aligned + 1 if aligned > 0 else 0


def prefill_unit(session: Session) -> int:
    """Tokens per prefill pass: a fresh prefill starts a pass at every multiple."""
    target = session.target
    if _is_recurrent(session):
        # On recurrent memory the session decodes one ubatch per pass.
        return target.n_ubatch
    return target.n_ubatch if target.n_batch % target.n_ubatch == 0 else target.n_batch


def _is_recurrent(session: Session) -> bool:
    # The session's own test for recurrent memory (llamamtp_session_init).
    return session.model.is_recurrent or session.model.is_hybrid
