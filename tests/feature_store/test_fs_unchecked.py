"""Feast runs without typeguard's run-time checks once the feature_store package is imported
(feature_store.unchecked); every other module's ``@typechecked`` still checks. Each case runs in
a fresh interpreter: what matters is the order of the imports."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Names typeguard's instrumentation adds to a checked function's code.
PROBE = """
import feast.feature_view
names = set(feast.feature_view.FeatureView.__init__.__code__.co_names)
print("checked" if {"check_argument_types_internal", "typeguard"} & names else "unchecked")
"""


def run(code: str, cwd: Path = ROOT) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_feast_imported_through_the_package_is_unchecked_and_works() -> None:
    out = run(
        "import feature_store\n"
        + PROBE
        + """
from feast import Entity, ValueType
print(Entity(name="applicant", join_keys=["applicant_id"], value_type=ValueType.STRING).join_key)
"""
    )
    assert out.splitlines() == ["unchecked", "applicant_id"]


def test_without_the_package_feast_is_instrumented_as_before() -> None:
    """The probe can tell: the same import without the feature_store package is checked."""
    assert run(PROBE) == "checked"


def test_other_modules_keep_their_checks(tmp_path: Path) -> None:
    (tmp_path / "strict.py").write_text(
        textwrap.dedent(
            """
            from typeguard import typechecked

            @typechecked
            def half(n: int) -> float:
                return n / 2
            """
        )
    )
    out = run(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import feature_store, feast
        import strict
        try:
            strict.half("two")
        except Exception as exc:
            print(type(exc).__name__)
        """,
        cwd=tmp_path,
    )
    assert out == "TypeCheckError"
