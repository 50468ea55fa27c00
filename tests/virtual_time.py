"""An asyncio event loop on virtual time (``tests/adverse_api.py`` puts an API on it).

Whenever the loop would wait (for a timer, a sleep, a 429 pause), its clock jumps ahead instead:
a minute of pacing runs in milliseconds and gives the same answer on every run. Real sockets
still work, but nothing real may be awaited that has no timer behind it (the loop would spin), so
servers go through ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

# What one turn of a real loop costs at least; also lets a timer that keeps re-arming itself at
# "now" (float rounding in a limiter) see time pass, as it would on a real clock.
_TURN = 1e-6


class _Selector(selectors.BaseSelector):
    def __init__(self, loop: VirtualTimeLoop, real: selectors.BaseSelector) -> None:
        self._loop = loop
        self._real = real

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if not ready:
            if timeout is None:
                raise RuntimeError("virtual time: every task waits and no timer is set")
            self._loop.now += max(timeout, _TURN)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self._selector = _Selector(self, self._selector)  # type: ignore[has-type]

    def time(self) -> float:
        return self.now


def run_virtual(main: Callable[[VirtualTimeLoop], Awaitable[T]]) -> T:
    """Run ``main(loop)`` to its end on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()
