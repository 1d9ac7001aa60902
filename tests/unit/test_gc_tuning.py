"""A worker moves its start-up objects out of the collector's sight and collects young objects
less often."""

from __future__ import annotations

import gc

from app.main import YOUNG_GC_THRESHOLD, tune_garbage_collector


def test_start_up_objects_are_frozen_and_young_collections_are_rarer():
    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_GC_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
