"""``terraform-fmt``: ``terraform fmt -check``, then ``init``/``validate``/``test`` on the modules
that need no provider (providers cannot be downloaded offline; the rest is left to checkov)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

from infrastructure.validation.context import Context
from infrastructure.validation.core import MAKE_INSTALL, CheckResult, one_line
from infrastructure.validation.tools import output_lines, run_tool
from mlops.errors import MissingToolError

# Where the development image installs Terraform, for shells whose PATH lacks /usr/local/bin.
TERRAFORM_IMAGE_PATH = Path("/usr/local/bin/terraform")


def _unwrap(value: Any) -> Any:
    """python-hcl2 wraps attribute values and blocks in one-item lists; take them out."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def _blocks(parsed: dict[str, Any], key: str) -> list[dict[str, Any]]:
    blocks = parsed.get(key) or []
    return [b for b in (blocks if isinstance(blocks, list) else [blocks]) if isinstance(b, dict)]


def _labels(block: dict[str, Any]) -> list[str]:
    # python-hcl2 >= 7 keeps block labels quoted ('"aws_s3_bucket"'); older releases do not.
    return [k.strip('"') for k in block if not k.startswith("__")]


# python-hcl2 parses with one module-level Lark parser, which is not thread-safe: checks run in
# threads, and two parses at once returned each other's trees (a flaky failure in CI).
_HCL_LOCK = threading.Lock()


def hcl_loads(text: str) -> dict[str, Any]:
    """HCL text as python-hcl2 reads it, one parse at a time."""
    try:
        import hcl2
    except ImportError as exc:
        raise MissingToolError("python-hcl2 (import hcl2)", MAKE_INSTALL) from exc
    with _HCL_LOCK:
        parsed: dict[str, Any] = hcl2.loads(text)
    return parsed


@functools.cache
def _parse_hcl_file(path: Path) -> dict[str, Any]:
    return hcl_loads(path.read_text(encoding="utf-8"))


def parse_hcl(path: Path) -> dict[str, Any]:
    """A Terraform file as python-hcl2 reads it, parsed once per run (callers must not mutate it)."""
    return _parse_hcl_file(path.resolve())


def provider_needs(module: Path, seen: frozenset[Path] = frozenset()) -> set[str]:
    """The provider plugins a module needs (none means it can be initialised offline): its
    required_providers and provider blocks, the providers of its resources and data sources,
    and those of the local modules it calls; a remote module counts as a download too."""
    needs: set[str] = set()
    for tf in sorted(module.glob("*.tf")):
        parsed = parse_hcl(tf)
        for block in _blocks(parsed, "terraform"):
            for providers in _blocks(block, "required_providers"):
                needs.update(_labels(providers))
        needs.update(name for block in _blocks(parsed, "provider") for name in _labels(block))
        for key in ("resource", "data", "ephemeral"):
            for block in _blocks(parsed, key):
                needs.update(t.split("_", 1)[0] for t in _labels(block) if t.split("_", 1)[0] != "terraform")
        for block in _blocks(parsed, "module"):
            for key in (k for k in block if not k.startswith("__")):
                name = key.strip('"')
                source = str(_unwrap((block[key] or {}).get("source", ""))).strip('"')
                if not source.startswith(("./", "../")):
                    needs.add(f"module {name} from {source}")
                elif (child := (module / source).resolve()) not in seen:
                    needs |= provider_needs(child, seen | {module.resolve()})
    return needs


def check_terraform(ctx: Context) -> CheckResult:
    """``terraform fmt -check``, then init, validate and test on each module that needs no provider."""
    result = CheckResult("terraform-fmt")
    layout = ctx.layout
    terraform = shutil.which("terraform") or (str(TERRAFORM_IMAGE_PATH) if TERRAFORM_IMAGE_PATH.is_file() else None)
    if terraform is None:
        raise MissingToolError("terraform (>= 1.11)", "the Terraform release for your platform, on PATH")
    try:
        import hcl2  # noqa: F401
    except ImportError as exc:
        raise MissingToolError("python-hcl2 (import hcl2)", MAKE_INSTALL) from exc
    if not layout.terraform.is_dir():
        result.failures.append(f"{layout.rel(layout.terraform)} does not exist")
        return result
    work = layout.out / "terraform"
    work.mkdir(parents=True, exist_ok=True)
    config = work / "terraformrc"
    config.touch()
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    fmt = run_tool(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(layout.terraform)],
        cwd=layout.root,
        env=env,
    )
    if fmt.returncode != 0:
        result.failures += [f"fmt: {line}" for line in output_lines(fmt)] or [f"fmt exited {fmt.returncode}"]

    modules = sorted({p.parent for p in layout.terraform.rglob("*.tf") if ".terraform" not in p.parts})
    result.counts = {"modules": len(modules), "validated": 0, "tests_passed": 0, "checkov_only": 0}
    for module in modules:
        name = layout.rel(module)
        try:
            needs = provider_needs(module)
        except Exception as exc:  # python-hcl2 raises lark errors of several types
            result.failures.append(f"{name}: does not parse: {one_line(str(exc))}")
            continue
        if needs:
            result.count("checkov_only")
            result.notes.append(f"{name}: checkov only, needs {', '.join(sorted(needs))} (not downloadable offline)")
            continue
        module_env = {**env, "TF_DATA_DIR": str(work / name.replace("/", "_"))}
        steps = [
            ["init", "-backend=false", "-input=false", "-no-color"],
            ["validate", "-no-color"],
            ["test", "-no-color"],
        ]
        for step in steps:
            completed = run_tool([terraform, f"-chdir={module}", *step], cwd=layout.root, env=module_env)
            if completed.returncode != 0:
                result.failures += [f"{name}: terraform {step[0]}: {line}" for line in output_lines(completed)]
                break
            if step[0] == "test":
                passed = re.search(r"(\d+) passed", completed.stdout)
                result.count("tests_passed", int(passed.group(1)) if passed else 0)
        else:
            result.count("validated")
            result.notes.append(f"{name}: init, validate and test passed (no provider needed)")
    return result
