variable "policy_dir" {
  description = "Directory of Vault policies (one <name>.hcl per workload); null is the repository's secrets/vault/policies."
  type        = string
  default     = null
}

variable "kv_mount_path" {
  description = "Mount path of the KV v2 engine; vault:// references and the policies use `secret`."
  type        = string
  default     = "secret"
}

variable "kv_max_versions" {
  description = "Versions kept per secret: how far back a bad rotation can be undone."
  type        = number
  default     = 20
}

variable "kubernetes_host" {
  description = "API server Vault calls to review service-account tokens. Vault runs in the cluster, so the in-cluster address and its own CA and token are used."
  type        = string
  default     = "https://kubernetes.default.svc"
}

variable "roles" {
  description = <<-EOT
    Kubernetes auth roles: the service accounts (and namespaces) that log in as each role, the
    policies they get, and the audience their token must carry (null: the cluster's default
    service-account token is accepted; Vault Agent sidecars present a projected token for "vault").
  EOT
  type = map(object({
    service_accounts = list(string)
    namespaces       = list(string)
    policies         = list(string)
    audience         = optional(string)
    token_ttl        = optional(number, 3600)
    token_max_ttl    = optional(number, 14400)
  }))
}

variable "audit_log" {
  description = "Enable a file audit device writing to stdout, collected with the pod logs."
  type        = bool
  default     = true
}
