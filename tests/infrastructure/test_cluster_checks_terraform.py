"""``terraform-cluster`` in ``make validate-infra``: the EKS add-ons NetworkPolicies and the HPA need,
and no Terraform root that needs a Vault before the cluster it runs in exists.

Each test writes a small Terraform tree (a cluster module and a root calling it) in a temporary
repository, runs the check on it clean, then with one defect, and reads the one-line failure.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from infrastructure.validation import main
from tests.infrastructure.validator import failures, run_checks

ROOT = Path(__file__).resolve().parents[2]

CLUSTER = """
resource "aws_eks_cluster" "this" {
  name     = "demo"
  role_arn = "arn:aws:iam::123456789012:role/demo"

  vpc_config {
    subnet_ids = ["subnet-1"]
  }
}

resource "aws_eks_addon" "vpc_cni" {
  cluster_name = aws_eks_cluster.this.name
  addon_name   = "vpc-cni"

  configuration_values = jsonencode({
    enableNetworkPolicy = "true"
  })
}

resource "aws_eks_addon" "this" {
  for_each = {
    "coredns"        = null
    "metrics-server" = null
  }

  cluster_name = aws_eks_cluster.this.name
  addon_name   = each.key
}
"""

ROOT_MODULE = """
provider "aws" {
  region = "eu-west-1"
}

module "cluster" {
  source = "../modules/cluster"
}
"""

VAULT_ROOT = """
provider "vault" {}

module "config" {
  source = "../modules/vault-config"
}
"""

VAULT_MODULE = """
resource "vault_mount" "kv" {
  path = "secret"
  type = "kv"
}
"""


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two roots, as the platform has them: live/ builds the cluster, live-vault/ configures Vault."""
    root = tmp_path / "repo"
    write(root, "infrastructure/terraform/modules/cluster/main.tf", CLUSTER)
    write(root, "infrastructure/terraform/modules/vault-config/main.tf", VAULT_MODULE)
    write(root, "infrastructure/terraform/live/main.tf", ROOT_MODULE)
    write(root, "infrastructure/terraform/live-vault/main.tf", VAULT_ROOT)
    return root


def run(repo: Path) -> tuple[int, str, dict[str, int]]:
    code, report = run_checks(repo, "terraform-cluster")
    return code, failures(report, "terraform-cluster"), report["checks"]["terraform-cluster"]["counts"]


def test_a_cluster_with_both_add_ons_and_vault_in_its_own_root_passes(repo: Path) -> None:
    code, found, counts = run(repo)
    assert code == 0, found
    assert counts == {"clusters": 1, "roots": 2}


def test_vpc_cni_without_network_policy_enforcement_fails(repo: Path) -> None:
    cluster = repo / "infrastructure/terraform/modules/cluster/main.tf"
    cluster.write_text(cluster.read_text().replace('enableNetworkPolicy = "true"', 'enableNetworkPolicy = "false"'))
    code, found, _ = run(repo)
    assert code == 1
    assert found == (
        "infrastructure/terraform/modules/cluster/main.tf: aws_eks_addon.vpc_cni (vpc-cni) has no"
        ' enableNetworkPolicy = "true" in configuration_values: NetworkPolicies would be accepted and not enforced'
    )


def test_vpc_cni_without_configuration_fails(repo: Path) -> None:
    cluster = repo / "infrastructure/terraform/modules/cluster/main.tf"
    text = cluster.read_text()
    start = text.index("  configuration_values")
    cluster.write_text(text[:start] + text[text.index("})", start) + 3 :])
    code, found, _ = run(repo)
    assert code == 1
    assert "aws_eks_addon.vpc_cni (vpc-cni) has no enableNetworkPolicy" in found


def test_vpc_cni_in_a_for_each_map_cannot_be_checked_and_fails(repo: Path) -> None:
    cluster = repo / "infrastructure/terraform/modules/cluster/main.tf"
    text = cluster.read_text()
    text = (
        text[: text.index('resource "aws_eks_addon" "vpc_cni"')] + text[text.index('resource "aws_eks_addon" "this"') :]
    )
    cluster.write_text(text.replace('"coredns"        = null', '"coredns"        = null\n    "vpc-cni"        = null'))
    code, found, _ = run(repo)
    assert code == 1
    assert "aws_eks_addon.this creates vpc-cni from a for_each map" in found


def test_a_cluster_without_metrics_server_or_vpc_cni_fails(repo: Path) -> None:
    cluster = repo / "infrastructure/terraform/modules/cluster/main.tf"
    text = cluster.read_text()
    cluster.write_text(text[: text.index('resource "aws_eks_addon" "vpc_cni"')])
    code, found, _ = run(repo)
    assert code == 1
    assert found.splitlines() == [
        "infrastructure/terraform/modules/cluster/main.tf: aws_eks_cluster.this has no metrics-server aws_eks_addon"
        " in its module: no HorizontalPodAutoscaler can scale",
        "infrastructure/terraform/modules/cluster/main.tf: aws_eks_cluster.this has no vpc-cni aws_eks_addon"
        " in its module: NetworkPolicies are not enforced",
    ]


def test_a_root_that_builds_the_cluster_and_configures_vault_fails(repo: Path) -> None:
    live = repo / "infrastructure/terraform/live/main.tf"
    live.write_text(live.read_text() + '\nprovider "vault" {}\n')
    code, found, _ = run(repo)
    assert code == 1
    assert found == (
        "infrastructure/terraform/live: creates the EKS cluster (infrastructure/terraform/modules/cluster) and"
        " configures the vault provider: Vault runs in that cluster, so the first plan would fail;"
        " configure Vault in its own root applied after it"
    )


def test_a_vault_resource_reached_through_a_module_counts_too(repo: Path) -> None:
    # No provider block: the vault provider is still needed (and configured implicitly) through
    # the module's resources, as with the count = 0 module the first plan used to skip.
    live = repo / "infrastructure/terraform/live/main.tf"
    live.write_text(live.read_text() + '\nmodule "vault" {\n  source = "../modules/vault-config"\n  count  = 0\n}\n')
    code, found, _ = run(repo)
    assert code == 1
    assert found.startswith("infrastructure/terraform/live: creates the EKS cluster")


def test_this_repository_passes(tmp_path: Path) -> None:
    code = main(["--root", str(ROOT), "--out", str(tmp_path), "--only", "terraform-cluster"])
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert code == 0, failures(report, "terraform-cluster")
    # live/ (the cluster) and live-vault/ (Vault's configuration) are separate roots.
    assert report["checks"]["terraform-cluster"]["counts"] == {"clusters": 1, "roots": 2}
