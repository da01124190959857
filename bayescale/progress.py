"""A heartbeat for long work that draws no progress bar of its own.

numpyro draws no bars for chains that take turns on a device, nor for bayescale's own lanes
programs (one compiled program per shape class, read back from the cache, cannot call back
into Python), so a per-problem pass fit could sit for minutes with nothing on the screen.
:func:`heartbeat` logs how long the work has run at 15, 30, 60, 120, ... seconds, from a
thread that ends with the block. Through the ``bayescale`` logger: the command prints it,
a library caller sees it only if it shows that logger's INFO messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("bayescale")

#: Seconds before the first line; each later line comes after twice the wait before it.
FIRST_BEAT_S = 15.0


def elapsed_text(seconds: float) -> str:
    """``42 s`` or ``3 min 05 s``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


@contextmanager
def heartbeat(
    what: str,
    enabled: bool = True,
    first: float = FIRST_BEAT_S,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> Iterator[None]:
    """Log ``"{what}: N s so far"`` at ``first``, 2x, 4x, ... seconds while the block runs."""
    if not enabled:
        yield
        return
    done = threading.Event()
    start = clock()

    def beat() -> None:
        due = first
        while not done.wait(max(0.0, due - (clock() - start))):
            elapsed = clock() - start
            log.info("%s: %s so far", what, elapsed_text(elapsed))
            while due <= elapsed:  # one line after a stall (a suspended process), not a burst
                due *= 2

    thread = threading.Thread(target=beat, name="bayescale-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
