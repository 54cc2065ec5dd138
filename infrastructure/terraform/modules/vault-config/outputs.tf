output "kv_mount_path" {
  description = "Mount path of the KV v2 engine."
  value       = vault_mount.kv.path
}

output "policies" {
  description = "Names of the policies loaded from the policy directory."
  value       = sort(keys(vault_policy.workload))
}

output "roles" {
  description = "Kubernetes auth role name → policies."
  value       = { for name, role in vault_kubernetes_auth_backend_role.workload : name => role.token_policies }
}
