"""freeze_at_exit: the objects alive at exit are frozen before the interpreter's final garbage
scans, and everything a step or command closed stays written. Each case is a fresh interpreter:
what is checked happens at its exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def exit_report(body: str, tmp_path: Path) -> str:
    """Run ``body`` in a fresh interpreter; an atexit handler registered before it (so it runs
    after any handler ``body`` registers) writes how many objects the collector had frozen."""
    report = tmp_path / "report.txt"
    code = textwrap.dedent(
        f"""
        import atexit, gc, sys
        sys.path.insert(0, {str(ROOT)!r})
        atexit.register(lambda: open({str(report)!r}, "w").write(str(gc.get_freeze_count())))
        """
    ) + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return report.read_text()


def test_objects_alive_at_exit_are_frozen_and_closed_files_are_intact(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    frozen = exit_report(
        f"""
        from mlops.exit import freeze_at_exit
        freeze_at_exit()
        freeze_at_exit()  # once per process
        keep = [[i] for i in range(100_000)]
        with open({str(out)!r}, "w") as f:
            f.write("written")
        """,
        tmp_path,
    )
    assert int(frozen) > 100_000
    assert out.read_text() == "written"


def test_without_it_nothing_is_frozen(tmp_path: Path) -> None:
    assert exit_report("keep = [[i] for i in range(100_000)]", tmp_path) == "0"


def test_a_step_and_the_command_line_arm_it(tmp_path: Path) -> None:
    step = exit_report(
        """
        from mlops.state import record_step
        with record_step("probe"):
            pass
        """,
        tmp_path,
    )
    assert int(step) > 0
    command = exit_report(
        """
        sys.argv = ["mlops", "--help"]
        from mlops_cli.main import main
        try:
            main()
        except SystemExit:
            pass
        """,
        tmp_path,
    )
    assert int(command) > 0
