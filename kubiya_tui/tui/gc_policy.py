"""When the console collects garbage: after a paint, never inside a refresh.

Python's full collection walks every tracked object that is not frozen. Without a policy, a
console that takes a fresh snapshot every few seconds (tens of thousands of objects at 5,000
workers, long-lived enough to reach the oldest generation) has a full collection every
refresh or two, walking all the snapshots that have not been freed yet, and one of those can
land in the middle of a refresh (tens of ms).

The policy:

- the first snapshot on screen: one full collection, then everything is frozen (modules,
  widgets, styles, history rings: most of the heap, alive as long as the console);
- each later snapshot, once painted: the young generations are collected and what survived
  is frozen, so automatic collections only ever walk what the current refresh made.
  Frozen objects are still freed by reference counting (a snapshot has no cycles), so an old
  snapshot goes as soon as nothing holds it;
- what only the cycle collector can free among frozen objects (a closed dialog's widgets,
  which point at each other) is reclaimed by a full collection of everything, at most every
  ``FULL_EVERY`` seconds and only after ``QUIET_FOR`` seconds without a key or a click, so no
  one waits on it.
"""

from __future__ import annotations

import gc
import time
from typing import Callable


class CollectAfterPaint:
    FULL_EVERY = 600.0
    """Seconds between full collections of the whole heap (frozen objects too)."""
    QUIET_FOR = 5.0
    """A full collection waits until the operator has not pressed a key or clicked for this long."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.first_done = False
        self.last_full = clock()
        self.last_input = float("-inf")
        self.full_collections = 0

    def input_seen(self) -> None:
        """A key or a click: a full collection now would be felt."""
        self.last_input = self.clock()

    def after_paint(self) -> None:
        """Called once a snapshot is on screen (after its refresh), never in the middle of one."""
        now = self.clock()
        if not self.first_done:
            self.first_done = True
            gc.collect()
            gc.freeze()
            self.last_full = now
            return
        due = now - self.last_full >= self.FULL_EVERY
        # An operator who never pauses for QUIET_FOR still gets one, three periods on.
        if due and (now - self.last_input >= self.QUIET_FOR or now - self.last_full >= 3 * self.FULL_EVERY):
            self.last_full = now
            self.full_collections += 1
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            return
        gc.collect(1)
        gc.freeze()
