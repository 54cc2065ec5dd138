"""Starting local processes (performance.servers): a process that dies or never gets ready is
reported with its log and stopped; a ready one is stopped when the block ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from performance.servers import IdleHolders, running, spawned, tcp_ping

NEVER = tcp_ping(1, b"", b"")  # port 1 on 127.0.0.1: nothing listens there


def test_a_process_that_exits_before_it_is_ready_is_reported_with_its_log(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "print('port already in use'); raise SystemExit(3)"]
    with (
        pytest.raises(RuntimeError, match=r"(?s)toy exited with 3 before it was ready.*port already in use"),
        running(cmd, NEVER, tmp_path / "toy.log", name="toy"),
    ):
        pytest.fail("the block must not run")


def test_a_process_never_ready_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    with (
        pytest.raises(RuntimeError, match=r"toy was not ready after 0.3 s"),
        running(cmd, NEVER, tmp_path / "toy.log", name="toy", timeout_s=0.3, grace_s=2),
    ):
        pytest.fail("the block must not run")


def test_a_ready_process_runs_for_the_block_and_is_stopped_after(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    with running(cmd, lambda: True, None, name="toy", grace_s=2) as proc:
        assert proc.poll() is None
    assert proc.poll() is not None


def test_a_spawned_child_that_dies_is_reported() -> None:
    with (
        pytest.raises(RuntimeError, match=r"child exited with 4 before it was ready"),
        spawned(sys.exit, (4,), NEVER, name="child", timeout_s=30),
    ):
        pytest.fail("the block must not run")


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's scheduling class")
def test_idle_holders_run_at_the_lowest_class_on_their_core_and_yield_it_to_real_work() -> None:
    """One busy loop per core, pinned and SCHED_IDLE: a normal process on that core takes the CPU
    (the loop only fills idle time); released() stops the loops; leaving the block ends them."""
    import psutil

    core = max(os.sched_getaffinity(0))
    with IdleHolders([core]) as holders:
        proc = holders.procs[core]
        assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
        assert os.sched_getaffinity(proc.pid) == {core}
        work = subprocess.Popen(
            [sys.executable, "-c", "import time\nend = time.time() + 1.0\nwhile time.time() < end: pass"]
        )
        os.sched_setaffinity(work.pid, {core})
        before = holders.cpu_seconds()[core]
        started = time.perf_counter()
        work.wait(10)
        held_share = (holders.cpu_seconds()[core] - before) / (time.perf_counter() - started)
        assert held_share < 0.1, f"the holder took {held_share:.0%} of a core a normal process wanted"
        with holders.released():
            assert psutil.Process(proc.pid).status() == psutil.STATUS_STOPPED
        assert psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED
    assert proc.poll() is not None
    assert holders.procs == {}
