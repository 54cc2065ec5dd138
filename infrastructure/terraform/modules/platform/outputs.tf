output "cluster_name" {
  description = "EKS cluster name (also the Argo CD cluster name)."
  value       = module.kubernetes_cluster.name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.kubernetes_cluster.endpoint
}

output "bucket_names" {
  description = "Artifacts and backups bucket names."
  value       = module.object_storage.bucket_names
}

output "registry_db_address" {
  description = "PostgreSQL host of the MLflow and Feast registries."
  value       = module.postgres.address
}

output "registry_db_master_secret_arn" {
  description = "Secrets Manager secret of the generated database administrator password."
  value       = module.postgres.master_user_secret_arn
}

output "workload_role_arns" {
  description = "IRSA role ARN by workload (service-account annotation eks.amazonaws.com/role-arn)."
  value       = module.workload_identity.role_arns
}

output "vault_unseal_kms_key_id" {
  description = "KMS key for Vault's awskms seal."
  value       = module.vault_unseal_key.key_id
}

output "registry_db_port" {
  description = "PostgreSQL port of the MLflow and Feast registries."
  value       = module.postgres.port
}

output "database_subnet_cidrs" {
  description = "CIDRs of the subnets the registry database runs in (NetworkPolicy egress to it)."
  value       = module.network.private_subnet_cidrs
}

output "service_account_roles" {
  description = "IRSA role ARN by service account of the platform's namespace (mlops-<environment>): the charts' eks.amazonaws.com/role-arn annotations."
  value = {
    for name, arn in module.workload_identity.role_arns : local.workloads[name].service_account => arn
    if contains(keys(local.workloads), name) && local.workloads[name].namespace == module.workloads.app_namespace
  }
}
