"""The console's garbage policy: frozen after each paint, cycles reclaimed in a quiet moment, never lost for good."""

from __future__ import annotations

import gc
import weakref
from typing import Iterator

import pytest

from kubiya_tui.tui.gc_policy import CollectAfterPaint


class Node:
    """Stands for a closed dialog's widgets: objects that point at each other."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def policy() -> Iterator[CollectAfterPaint]:
    clock = Clock()
    yield CollectAfterPaint(clock=clock)
    gc.unfreeze()
    gc.collect()


def test_each_paint_freezes_what_survived_so_collections_skip_it(policy: CollectAfterPaint) -> None:
    policy.after_paint()
    frozen = gc.get_freeze_count()
    assert frozen > 0, "the first paint freezes the long-lived heap"
    kept = [Node() for _ in range(1000)]  # a new snapshot's objects, alive after its paint
    policy.after_paint()
    assert gc.get_freeze_count() >= frozen + len(kept)
    walked = {id(o) for o in gc.get_objects()}
    assert not walked & {id(o) for o in kept}, "the next collections do not walk them"


def test_a_cycle_frozen_by_a_paint_is_reclaimed_by_the_next_full_collection_once_the_operator_pauses(
    policy: CollectAfterPaint,
) -> None:
    clock = policy.clock
    assert isinstance(clock, Clock)
    policy.after_paint()
    dialog, closed_dialog = cycle()
    policy.after_paint()  # frozen with the survivors of this paint
    del dialog  # then closed
    gc.collect()
    assert closed_dialog() is not None, "a frozen cycle outlives ordinary collections"

    clock.now += policy.FULL_EVERY - 1
    policy.after_paint()
    assert closed_dialog() is not None, "no full collection before FULL_EVERY"

    clock.now += 2
    policy.input_seen()
    policy.after_paint()
    assert closed_dialog() is not None, "not while the operator is typing"

    clock.now += policy.QUIET_FOR
    policy.after_paint()
    assert closed_dialog() is None, "reclaimed once due and quiet"
    assert policy.full_collections == 1
    assert gc.get_freeze_count() > 0, "and the heap is frozen again"


def test_an_operator_who_never_pauses_still_gets_a_full_collection(policy: CollectAfterPaint) -> None:
    clock = policy.clock
    assert isinstance(clock, Clock)
    policy.after_paint()
    dialog, closed_dialog = cycle()
    policy.after_paint()
    del dialog
    for _ in range(30):
        clock.now += policy.FULL_EVERY / 10
        policy.input_seen()
        policy.after_paint()
    assert closed_dialog() is None
    assert policy.full_collections == 1
