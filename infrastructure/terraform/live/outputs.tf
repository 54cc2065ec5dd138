output "cluster_name" {
  description = "EKS cluster (register it in Argo CD under this name)."
  value       = module.platform.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.platform.cluster_endpoint
}

output "bucket_names" {
  description = "Artifacts and backups buckets."
  value       = module.platform.bucket_names
}

output "registry_db_address" {
  description = "Registry PostgreSQL host."
  value       = module.platform.registry_db_address
}

output "registry_db_master_secret_arn" {
  description = "Secrets Manager secret of the database administrator password."
  value       = module.platform.registry_db_master_secret_arn
}

output "workload_role_arns" {
  description = "IRSA role per workload."
  value       = module.platform.workload_role_arns
}

output "vault_unseal_kms_key_id" {
  description = "KMS key for Vault's awskms seal."
  value       = module.platform.vault_unseal_kms_key_id
}

# Everything the Helm charts name about this environment, in one object: write it to
# infrastructure/helm/environments/<env>.yaml (docs/platform/bootstrap.md, "Terraform outputs to
# Helm values"). Argo CD gives that file to every chart, whose templates read global.platform.
# make validate-infra (check `consistency`) fails when the file's keys differ from these.
output "helm_values" {
  description = "Helm global values of this environment (hosts, buckets, IRSA roles, database CIDRs)."
  value = {
    global = {
      platform = {
        region = var.region
        postgres = {
          host  = module.platform.registry_db_address
          port  = module.platform.registry_db_port
          cidrs = module.platform.database_subnet_cidrs
        }
        buckets         = module.platform.bucket_names
        serviceAccounts = module.platform.service_account_roles
      }
    }
  }
}
