"""``DepthController``: the automatic draft depth's decision rule, on its own.

Sessions made with ``n_draft="auto"`` run this controller natively on their
own timings. Used standalone, it shows which depth would be chosen for given
costs and acceptance, for tests and for estimating MTP on hardware with known
timings.
"""

from __future__ import annotations

from llamamtp._native import ffi, lib
from llamamtp._owner import NativeOwner
from llamamtp.errors import clear_native_error, native_error


class DepthController(NativeOwner):
    """Chooses draft depths from reported step results; see :meth:`choose` and :meth:`observe`."""

    _kind = "depth controller"

    def __init__(self, max_depth: int) -> None:
        clear_native_error()
        ptr = lib.llamamtp_depth_controller_init(max_depth)
        if ptr == ffi.NULL:
            raise ValueError(native_error())
        self._own(ptr, lib.llamamtp_depth_controller_free)
        self.max_depth = max_depth

    def choose(self, limit: int | None = None) -> int:
        """Return the depth for the next step (0 = plain), at most ``limit``."""
        return lib.llamamtp_depth_controller_choose(
            self.ptr, self.max_depth if limit is None else limit
        )

    def observe(
        self,
        drafted: int,
        accepted: int,
        t_draft: float = 0.0,
        t_verify: float = 0.0,
        t_catchup: float = 0.0,
        t_sample: float = 0.0,
    ) -> None:
        """Report the step just chosen: drafts made and accepted, and seconds per phase."""
        if not 0 <= accepted <= drafted <= self.max_depth:
            raise ValueError(
                f"need 0 <= accepted <= drafted <= {self.max_depth}, "
                f"got drafted={drafted}, accepted={accepted}"
            )
        lib.llamamtp_depth_controller_observe(
            self.ptr, drafted, accepted, t_draft, t_verify, t_catchup, t_sample
        )

    def observe_draft_pass(self, seconds: float) -> None:
        """Report one drafting pass made outside a step, such as a session's warm-up."""
        lib.llamamtp_depth_controller_observe_draft_pass(self.ptr, seconds)

    def expected_rate(self, depth: int) -> float:
        """Estimated tokens per second at ``depth``."""
        return lib.llamamtp_depth_controller_expected_rate(self.ptr, depth)

    def acceptance(self, position: int) -> float:
        """Estimated P(draft at ``position`` accepted | the ones before it were), 1-based."""
        return lib.llamamtp_depth_controller_acceptance(self.ptr, position)
