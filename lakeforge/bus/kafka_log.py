"""librdkafka's own log, through Python logging, each distinct message at most every 30 s.

Left alone, librdkafka prints to stderr itself, and a broker that is down makes every
client print "Connect to ... failed" about twenty times a second. Routed here, the
messages follow the command's logging setup, and repeats are held back: the first one
says what is wrong, later ones add nothing until the window has passed.
"""

from __future__ import annotations

import logging
import re
import threading
import time

#: How long the same message (numbers aside) stays quiet after it was logged.
REPEAT_WINDOW_S = 30.0
_NUMBERS = re.compile(r"\d+")


class _QuietRepeats(logging.Filter):
    """Let a message through only if its kind was not logged within the window."""

    def __init__(self, window_s: float) -> None:
        super().__init__()
        self.window_s = window_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        kind = _NUMBERS.sub("#", record.getMessage())
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -self.window_s) < self.window_s:
                return False
            self._last[kind] = now
            if len(self._last) > 1000:  # many distinct messages: forget the oldest
                self._last = dict(sorted(self._last.items(), key=lambda i: i[1])[-500:])
        return True


_logger = logging.getLogger("lakeforge.kafka")
_logger.addFilter(_QuietRepeats(REPEAT_WINDOW_S))


def kafka_logger() -> logging.Logger:
    """The logger to pass as librdkafka's ``logger`` setting, for every client."""
    return _logger
