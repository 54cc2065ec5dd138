output "kv_mount_path" {
  description = "Mount path of the platform's KV v2 engine."
  value       = module.vault_config.kv_mount_path
}

output "vault_roles" {
  description = "Vault Kubernetes auth roles and their policies."
  value       = module.vault_config.roles
}
