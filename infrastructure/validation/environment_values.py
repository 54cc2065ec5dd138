"""Write an environment's Helm values file from Terraform's ``helm_values`` output.

    terraform -chdir=infrastructure/terraform/live output -json helm_values \\
      | .venv/bin/python -m infrastructure.validation.environment_values --env prod \\
      > infrastructure/helm/environments/prod.yaml

The output is YAML (keys in Terraform's order) under the header every such file carries, so a
regenerated file differs from the committed one only where Terraform's values do.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

HEADER = """\
# What Terraform built for {env} (infrastructure/terraform/live, output helm_values), as Helm
# global values every chart of the environment reads (Argo CD adds this file to each
# Application's valueFiles). Regenerate after `terraform apply`, never edit by hand:
#   terraform -chdir=infrastructure/terraform/live output -json helm_values \\
#     | .venv/bin/python -m infrastructure.validation.environment_values --env {env} \\
#     > infrastructure/helm/environments/{env}.yaml
# make validate-infra (check `consistency`) fails when the keys differ from the Terraform output's.
"""


class _Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key, as yamllint's default expects."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def environment_values(output: Any, env: str) -> str:
    """The file's text for Terraform's ``helm_values`` (decoded JSON)."""
    if not isinstance(output, dict) or "global" not in output:
        raise ValueError("expected the helm_values output: an object with a `global` key")
    body = yaml.dump(output, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    return HEADER.format(env=env) + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--env", required=True, help="the environment (dev, staging, prod)")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(environment_values(json.load(sys.stdin), args.env))
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"environment_values: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
