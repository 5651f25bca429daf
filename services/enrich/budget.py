"""A CPU budget for one entry's enrichment: past it, the work stops with `OverBudget`.

The process's CPU-time timer (ITIMER_PROF) raises in the thread that runs the entry, also from
inside a long regular-expression match (the `re` engine checks for signals as it goes). Only
the main thread can take signals: elsewhere (a test's worker thread) no budget is enforced.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

REPEAT_SECONDS = 0.01


class OverBudget(Exception):
    """An entry used up its CPU budget."""


def _expired(_signum: int, _frame: FrameType | None) -> None:
    raise OverBudget


@contextmanager
def cpu_budget(seconds: float | None) -> Iterator[None]:
    """Run the block with at most `seconds` of this process's CPU time (None or <= 0: none)."""
    if not seconds or seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGPROF, _expired)
    # Then again every 10 ms of CPU: a signal that lands in a finalizer (a weakref callback of
    # the garbage collector) raises there, where Python ignores it, and the work goes on.
    signal.setitimer(signal.ITIMER_PROF, seconds, REPEAT_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
