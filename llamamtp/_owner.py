"""Base class for Python objects that own one native llama.cpp object."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from llamamtp.errors import ClosedError


class NativeOwner:
    """Owns a native pointer: ``close()`` frees it once, use after close raises.

    The pointer is also freed when the object is garbage collected, through a
    ``weakref.finalize`` that keeps ``keep_alive`` objects (for example the
    model a context was made from) alive until then. Children registered with
    :meth:`_adopt` are closed before their parent.
    """

    _kind = "object"

    def _own(self, ptr: Any, free: Callable[[Any], None], *keep_alive: Any) -> None:
        self._ptr = ptr
        self._children: weakref.WeakSet[NativeOwner] = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _free, free, ptr, keep_alive)

    def _adopt(self, child: NativeOwner) -> None:
        self._children.add(child)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return not self._finalizer.alive

    @property
    def ptr(self) -> Any:
        """The native pointer; raises :class:`ClosedError` after close."""
        if not self._finalizer.alive:
            raise ClosedError(f"this {self._kind} is closed; create a new one to use it again")
        return self._ptr

    def close(self) -> None:
        """Free the native object (and close objects that depend on it). Idempotent."""
        if getattr(self, "_closing", False) or not self._finalizer.alive:
            return
        self._closing = True
        for child in list(self._children):
            child.close()
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _free(free: Callable[[Any], None], ptr: Any, keep_alive: tuple[Any, ...]) -> None:
    free(ptr)
