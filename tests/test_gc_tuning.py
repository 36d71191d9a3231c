"""The audit's garbage-collector settings: scoped to the block, and the collector still frees cycles in it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from chalicelib.gc_tuning import YOUNG_THRESHOLD, fewer_collections


@pytest.fixture(autouse=True)
def cpython_defaults() -> Iterator[None]:
    """CPython's default thresholds during each test (the suite runs with the audit's own: tests/conftest.py), so
    the raise is seen; the suite's are restored after."""
    suite = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*suite)


class _Node:
    """Stands for a botocore client: an object in a reference cycle."""

    def __init__(self) -> None:
        self.me = self


def test_young_threshold_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    assert before[0] < YOUNG_THRESHOLD
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before


def test_restored_when_the_block_raises() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise RuntimeError("an account failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before


def test_cycles_dropped_in_the_block_are_still_freed_without_an_explicit_collection() -> None:
    with fewer_collections():
        node = _Node()
        alive = weakref.ref(node)
        del node  # unreachable, but a cycle: only the cyclic collector frees it
        assert alive() is not None
        kept: list[list[None]] = [
            [] for _ in range(YOUNG_THRESHOLD + 1_000)
        ]  # net allocations past the threshold: a collection runs
        assert alive() is None
        del kept
