# Vault's own configuration for one environment: the KV v2 engine the platform reads, the
# per-workload policies, and Kubernetes auth roles binding service accounts to them.
locals {
  policy_dir = coalesce(var.policy_dir, "${path.module}/../../../../secrets/vault/policies")
  # The policy files in secrets/vault/policies are the only copy: they are also tested against a
  # real server by tests/mlops/test_secrets_policies.py.
  policies = {
    for f in fileset(local.policy_dir, "*.hcl") : trimsuffix(f, ".hcl") => file("${local.policy_dir}/${f}")
  }
}

resource "vault_mount" "kv" {
  path        = var.kv_mount_path
  type        = "kv"
  options     = { version = "2" }
  description = "Platform secrets: ${var.kv_mount_path}/mlops/<environment>/<area>"
}

resource "vault_kv_secret_backend_v2" "kv" {
  mount        = vault_mount.kv.path
  max_versions = var.kv_max_versions
  # Check-and-set is not required globally: `mlops secrets rotate` always sends it, and
  # operators seed new secrets with `vault kv put -cas=0`.
  cas_required = false
}

resource "vault_policy" "workload" {
  for_each = local.policies

  name   = each.key
  policy = each.value
}

resource "vault_auth_backend" "kubernetes" {
  type        = "kubernetes"
  path        = "kubernetes"
  description = "Service-account login for platform workloads"

  tune {
    default_lease_ttl = "1h"
    max_lease_ttl     = "4h"
  }
}

resource "vault_kubernetes_auth_backend_config" "this" {
  backend         = vault_auth_backend.kubernetes.path
  kubernetes_host = var.kubernetes_host
}

resource "vault_kubernetes_auth_backend_role" "workload" {
  for_each = var.roles

  backend                          = vault_auth_backend.kubernetes.path
  role_name                        = each.key
  bound_service_account_names      = each.value.service_accounts
  bound_service_account_namespaces = each.value.namespaces
  audience                         = each.value.audience
  token_policies                   = each.value.policies      # pragma: allowlist secret
  token_ttl                        = each.value.token_ttl     # pragma: allowlist secret
  token_max_ttl                    = each.value.token_max_ttl # pragma: allowlist secret

  lifecycle {
    precondition {
      condition     = alltrue([for p in each.value.policies : contains(keys(vault_policy.workload), p)])
      error_message = "Role ${each.key} names a policy that has no file in ${local.policy_dir}."
    }
  }
}

resource "vault_audit" "stdout" {
  count = var.audit_log ? 1 : 0

  type        = "file"
  path        = "stdout"
  description = "Every request and response (secret values HMAC'd), to the pod log"

  options = {
    file_path = "stdout"
  }
}
