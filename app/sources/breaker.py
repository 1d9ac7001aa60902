"""A circuit breaker for one unit's remote system.

Closed: calls go through; `failure_threshold` consecutive failed calls open it. Open: calls
are refused at once (no request reaches the remote) until `reset_after` seconds have passed;
then it is half-open and lets exactly one trial call through. The trial's success closes it;
its failure opens it again for another `reset_after`. Time comes from `clock` (monotonic
seconds) so tests can move it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1 or reset_after < 0:
            raise ValueError("failure_threshold must be >= 1 and reset_after >= 0")
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self.clock = clock
        self.on_change = on_change
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.trial_in_flight = False

    def allow(self) -> bool:
        """May a call go out now? In half-open state only the one trial call may."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self.clock() - self.opened_at < self.reset_after:
                return False
            self._move(BreakerState.HALF_OPEN)
        if self.trial_in_flight:
            return False
        self.trial_in_flight = True
        return True

    def record_success(self) -> None:
        """A call answered: reset the failure count; a trial's success closes the breaker."""
        self.failures = 0
        self.trial_in_flight = False
        if self.state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """A call failed: a failed trial, or the threshold reached, opens the breaker."""
        self.failures += 1
        self.trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
            self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            if self.on_change is not None:
                self.on_change(state)
