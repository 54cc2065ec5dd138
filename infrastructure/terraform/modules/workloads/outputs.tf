output "app_namespace" {
  description = "Namespace of the platform's workloads in this environment."
  value       = local.app_namespace
}

output "workloads" {
  description = "Workload name → namespace, service account and Vault token audience (null: the default service-account token)."
  value       = local.workloads
}
