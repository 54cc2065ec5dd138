"""``yaml``: every YAML file under ``infrastructure/`` (Helm templates aside) and ``secrets/`` loads."""

from __future__ import annotations

import yaml

from infrastructure.validation.context import Context
from infrastructure.validation.core import CheckResult, one_line
from infrastructure.validation.manifests import yaml_files


def check_yaml(ctx: Context) -> CheckResult:
    """Every YAML file under infrastructure/ (Helm templates aside) and secrets/ loads."""
    result = CheckResult("yaml")
    layout = ctx.layout
    files = [
        p
        for p in yaml_files(layout.infrastructure)
        if not (p.is_relative_to(layout.helm) and "templates" in p.relative_to(layout.helm).parts)
    ] + yaml_files(layout.secrets)
    for path in files:
        try:
            result.count("documents", len(list(yaml.safe_load_all(path.read_text(encoding="utf-8")))))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            result.failures.append(f"{layout.rel(path)}: {one_line(str(exc))}")
    result.counts["files"] = len(files)
    return result
