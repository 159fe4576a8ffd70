"""Pacing: at most `rate` worker invocations per second from one publisher."""

from __future__ import annotations

from bridge.ports import Clock

__all__ = ["Pacer"]


class Pacer:
    """Spaces calls 1/rate seconds apart on the clock given; no limit when rate is None."""

    def __init__(self, rate: float | None, clock: Clock) -> None:
        self._interval = None if rate is None else 1.0 / rate
        self._clock = clock
        self._next: float | None = None

    @property
    def active(self) -> bool:
        return self._interval is not None

    def wait(self) -> None:
        if self._interval is None:
            return
        now = self._clock.monotonic()
        if self._next is None or self._next < now:
            self._next = now
        self._clock.sleep(self._next - now)
        self._next += self._interval
