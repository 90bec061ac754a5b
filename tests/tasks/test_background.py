"""Housekeeping work runs on its own thread, one run at a time, and survives its failures."""

from __future__ import annotations

import threading

from recommender.tasks.background import Background


def test_a_run_still_going_is_not_started_again() -> None:
    release, runs = threading.Event(), []

    def work() -> None:
        runs.append(threading.current_thread().name)
        release.wait(timeout=30)

    background = Background("slow", work)
    assert background.start()
    assert not background.start()
    release.set()
    background.wait(timeout=30)
    assert background.start()
    background.wait(timeout=30)
    assert runs == ["slow", "slow"]


def test_a_failed_run_leaves_the_next_one_free_to_start() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        raise RuntimeError("the store went away")

    background = Background("flaky", work)
    assert background.start()
    background.wait(timeout=30)
    assert background.start()
    background.wait(timeout=30)
    assert len(calls) == 2
