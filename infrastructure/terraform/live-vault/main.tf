# Vault's configuration for one environment: the KV engine, the policies of secrets/vault/policies
# and a Kubernetes auth role per workload identity. Its own root and state, applied after live/
# built the cluster and Vault was installed in it (docs/platform/bootstrap.md, step 2): live/
# has no vault provider, so its first plan needs no Vault, and this root needs no AWS access.
# dev, staging and prod differ only in environments/<env>/ (state location, environment name).

# Address and token come from VAULT_ADDR / VAULT_TOKEN / VAULT_CACERT (an operator's
# short-lived token through a port-forward to the environment's Vault); nothing about Vault
# access is stored here.
provider "vault" {}

# The same identity table live/ gives IRSA roles, so both roots name every workload alike.
module "workloads" {
  source = "../modules/workloads"

  environment   = var.environment
  kfp_namespace = var.kfp_namespace
}

module "vault_config" {
  source = "../modules/vault-config"

  roles = {
    for name, w in module.workloads.workloads : name => {
      service_accounts = [w.service_account]
      namespaces       = [w.namespace]
      policies         = [name]
      audience         = w.audience
    }
  }
}
