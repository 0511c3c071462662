"""A critical line that a request repeats, logged once per interval with how often it recurred:
one line per bypassed request cost ~1% of a request's CPU and buried every other log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

INTERVAL_S = 60.0


class EveryInterval:
    """`note()` logs at once the first time, then at most once per `interval_s`, counting the
    notes in between (`…; 1234 more requests since the last line`)."""

    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.message = message
        self.interval_s = interval_s
        self.clock = clock
        self._next = float("-inf")
        self._since = 0

    def note(self) -> None:
        self._since += 1
        now = self.clock()
        if now < self._next:
            return
        count, self._since = self._since, 0
        self._next = now + self.interval_s
        if count == 1:
            self.logger.critical(self.message)
        else:
            self.logger.critical("%s (%d requests since the last line)", self.message, count)
