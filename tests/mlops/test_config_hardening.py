"""Config loading under hostile YAML: alias bombs, recursion, deep nesting, huge values.

The bomb tests run the load in a child process with its address space capped, so a
regression shows up as a failed test (MemoryError in the child), not as a machine out of memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlops.config import load_dataset_config
from mlops.errors import ConfigError
from mlops_cli.config_files import validate_config_dir

ROOT = Path(__file__).resolve().parents[2]
# Enough for the interpreter, PyYAML and pydantic; far below what an expanded bomb needs.
CHILD_ADDRESS_SPACE = 1 << 30

# Nine lists of nine: 9**9 (387 million) strings once the aliases are expanded.
BILLION_LAUGHS = """\
name: bomb
path: data.csv
target: y
description:
  - &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  - &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  - &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  - &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  - &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  - &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  - &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  - &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  - &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from pathlib import Path
    from mlops.errors import ConfigError
    started = time.perf_counter()
    try:
        {call}
        message = None
    except ConfigError as exc:
        message = str(exc)
    print(json.dumps({{
        "message": message,
        "seconds": time.perf_counter() - started,
        # VmHWM: this process's peak RSS (ru_maxrss would carry the forking parent's peak
        # across fork and exec, e.g. a large test runner's).
        "max_rss_mb": next(
            int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmHWM:")
        ) / 1024,
    }}))
    """
)


def run_capped(call: str, *args: str) -> dict[str, object]:
    """Run ``call`` (one statement) in a child with a capped address space; its JSON report."""
    code = _CHILD.format(limit=CHILD_ADDRESS_SPACE, call=call)
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    report: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


def test_billion_laughs_in_a_valid_key_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 500
    report = run_capped(
        "from mlops.config import load_dataset_config; load_dataset_config(Path(sys.argv[1]))", str(path)
    )
    message = str(report["message"])
    assert message.startswith(f"{path}: description: ")
    assert "refused" in message
    assert "alias" in message
    assert len(message) < 400
    assert float(str(report["seconds"])) < 5
    assert float(str(report["max_rss_mb"])) < 300


def test_error_formatter_shows_a_prefix_of_a_huge_shared_value() -> None:
    """A value that is small in memory (shared lists) but enormous when written out."""
    call = (
        "from pydantic import ValidationError; from mlops.config import DatasetConfig, validation_to_config_error\n"
        "    value = ['lol'] * 10\n"
        "    for _ in range(9): value = [value] * 10\n"
        "    try: DatasetConfig.model_validate({'name': 'x1', 'path': 'a.csv', 'target': 'y', 'description': value})\n"
        "    except ValidationError as exc: raise validation_to_config_error(Path('ds.yaml'), exc) from None"
    )
    report = run_capped(call)
    message = str(report["message"])
    assert message.startswith("ds.yaml: description: Input should be a valid string (got [[[[")
    assert len(message) < 200
    assert float(str(report["seconds"])) < 5


def test_merge_key_bomb_is_refused(tmp_path: Path) -> None:
    # `<<` merges copy the merged pairs: each level doubles the pairs the loader builds.
    lines = ["name: bomb", "path: data.csv", "target: y", "description:", "  - &m0 {a: 1, b: 2}"]
    lines += [f"  - &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, 18)]
    path = tmp_path / "merge.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"description: refused: .*alias") as exc:
        load_dataset_config(path)
    assert exc.value.file == str(path)


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("name: loop\npath: data.csv\ntarget: y\ndescription: &a [*a]\n")
    with pytest.raises(ConfigError, match=r"description: refused: .*refers to itself"):
        load_dataset_config(path)


def test_deep_nesting_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\npath: data.csv\ntarget: y\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml: <root>: valid YAML"):
        load_dataset_config(path)


def test_impossible_date_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    # PyYAML types 2024-13-45 as a timestamp and then fails to build it (ValueError).
    path = tmp_path / "date.yaml"
    path.write_text("name: dated\npath: data.csv\ntarget: y\ndescription: 2024-13-45\n")
    with pytest.raises(ConfigError, match=r"date\.yaml: <root>: valid YAML \(line 4"):
        load_dataset_config(path)


def test_huge_unknown_key_and_value_are_cut_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    # An explicit key (`? key`): YAML allows implicit keys of at most 1024 characters.
    path.write_text(f"name: big\npath: data.csv\ntarget: y\n? {'k' * 100_000}\n: 1\nmax_categories: {'9x' * 100_000}\n")
    with pytest.raises(ConfigError) as exc:
        load_dataset_config(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: max_categories: Input should be a valid integer")
    assert "; also kkkk" in message
    assert "no such key" in message
    assert len(message) < 600


def test_ordinary_anchors_still_load(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "name: reuse\npath: data.csv\ntarget: y\n"
        "pii:\n  email: &hashed {action: hash}\n  phone: *hashed\n  name: {<<: *hashed}\n"
    )
    cfg = load_dataset_config(path)
    assert {c: p.action for c, p in cfg.pii.items()} == {"email": "hash", "phone": "hash", "name": "hash"}
    assert validate_config_dir(ROOT / "config")


def test_a_binary_file_as_config_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ConfigError, match=r"binary\.yaml: <root>: UTF-8 text"):
        load_dataset_config(path)
