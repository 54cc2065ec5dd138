"""The checks of ``make validate-infra``, one module each, registered in :data:`CHECKS`.

A check takes the shared :class:`~infrastructure.validation.context.Context` and returns a
:class:`~infrastructure.validation.core.CheckResult`; it passed when it recorded no failure. A
new check is a module here and one entry below (the report lists checks in this order).
"""

from __future__ import annotations

from infrastructure.validation.checks.actionlint import check_actionlint
from infrastructure.validation.checks.argocd import check_argocd
from infrastructure.validation.checks.argocd_projects import check_argocd_projects
from infrastructure.validation.checks.checkov import check_checkov
from infrastructure.validation.checks.cluster import check_monitoring_labels, check_terraform_cluster
from infrastructure.validation.checks.consistency import check_consistency
from infrastructure.validation.checks.helm_render import check_helm_render
from infrastructure.validation.checks.kfp import check_kfp
from infrastructure.validation.checks.kubernetes_schema import check_kubernetes_schema
from infrastructure.validation.checks.pinned_actions import check_pinned_actions
from infrastructure.validation.checks.policies import check_policies
from infrastructure.validation.checks.secret_values import check_secret_values
from infrastructure.validation.checks.terraform import check_terraform
from infrastructure.validation.checks.vault_ca import check_vault_ca
from infrastructure.validation.checks.yaml_syntax import check_yaml
from infrastructure.validation.context import Check

CHECKS: dict[str, Check] = {
    "helm-render": check_helm_render,
    "kubernetes-schema": check_kubernetes_schema,
    "argocd": check_argocd,
    "argocd-projects": check_argocd_projects,
    "checkov": check_checkov,
    "policies": check_policies,
    "secret-values": check_secret_values,
    "vault-ca": check_vault_ca,
    "consistency": check_consistency,
    "kfp": check_kfp,
    "terraform-fmt": check_terraform,
    "terraform-cluster": check_terraform_cluster,
    "monitoring-labels": check_monitoring_labels,
    "actionlint": check_actionlint,
    "pinned-actions": check_pinned_actions,
    "yaml": check_yaml,
}

__all__ = ["CHECKS"]
