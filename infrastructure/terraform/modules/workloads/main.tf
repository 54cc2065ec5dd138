# The platform's workload identities, one table for both Terraform roots: live/ gives each an
# IRSA role (modules/platform) and live-vault/ a Vault Kubernetes auth role (modules/vault-config).
# Each identity is named alike everywhere: the Vault role (with the policy of the same name in
# secrets/vault/policies), the IRSA role, and the service account the Helm chart creates (its
# release name) or, for pipeline runs, KFP's pipeline-runner.
# audience: the Vault Agent sidecars of the charts log in with a projected token for "vault";
# pipeline steps log in with the pod's default token (config/environments/*.yaml).
# Provider-less on purpose: `make validate-infra` runs its tests offline.
locals {
  app_namespace = "mlops-${var.environment}"

  workloads = {
    "training-pipeline" = { namespace = var.kfp_namespace, service_account = "pipeline-runner", audience = null }
    "serving"           = { namespace = local.app_namespace, service_account = "serving", audience = "vault" }
    "feature-store"     = { namespace = local.app_namespace, service_account = "feature-store", audience = "vault" }
    "mlflow"            = { namespace = local.app_namespace, service_account = "mlflow", audience = "vault" }
    "backup"            = { namespace = local.app_namespace, service_account = "backups", audience = "vault" }
    "secrets-rotation"  = { namespace = local.app_namespace, service_account = "secrets-rotation", audience = "vault" }
  }
}
