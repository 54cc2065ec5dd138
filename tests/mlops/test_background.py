"""Pacing and priority of background threads (mlops.background)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from mlops.background import Pacer, lower_thread_priority


def test_the_pacer_pauses_only_after_holding_on_for_its_hold_time(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    pacer = Pacer(hold_s=10.0, pause_s=0.002)
    pacer.breathe()
    assert pauses == []  # held for much less than 10 s
    pacer._since -= 11.0
    pacer.breathe()
    pacer._since -= 11.0
    pacer.breathe(pause_s=0.0001)
    assert pauses == [0.002, 0.0001]
    pacer.start()
    pacer.breathe()
    assert len(pauses) == 2
    with pytest.raises(ValueError, match="hold_s >= 0"):
        Pacer(-1.0, 0.001)


def test_a_thread_lowers_its_own_priority_and_no_one_elses() -> None:
    seen: dict[str, int] = {}

    def work() -> None:
        lower_thread_priority(5)
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen["thread"] == min(before + 5, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
